// C++ exceptions as a user writes them, compiled to Wasm exception handling (`-fwasm-exceptions`,
// the standard exnref form): thrown three calls down, unwound through frames whose destructors
// run in reverse order, passed over by a handler of another type, caught by a base class,
// rethrown with `throw;` to an outer handler, a non-class exception caught by `catch (...)`, and
// a standard library exception thrown from libc++'s header code. The test expects exactly the
// lines printed.
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

struct Frame {
    int depth;
    explicit Frame(int depth) : depth(depth) { std::printf("enter %d\n", depth); }
    ~Frame() { std::printf("unwind %d (exceptions in flight: %d)\n", depth, std::uncaught_exceptions()); }
};

struct AppError : std::runtime_error {
    int code;
    AppError(const std::string &what, int code) : std::runtime_error(what), code(code) {}
};

// noinline: the throw must cross real Wasm call frames, not be folded into one function.
__attribute__((noinline)) void descend(int depth) {
    Frame frame(depth);
    if (depth == 3) throw AppError("too deep", 42);
    descend(depth + 1);
}

__attribute__((noinline)) void rethrow_after_cleanup() {
    try {
        descend(1);
    } catch (const std::exception &e) {
        std::printf("cleanup after \"%s\", rethrowing\n", e.what());
        throw;
    }
}

int main() {
    try {
        rethrow_after_cleanup();
    } catch (const std::logic_error &) {
        std::puts("wrong handler: AppError is not a logic_error");
    } catch (const std::runtime_error &e) {
        // Caught through its base class; the object is still the AppError that was thrown.
        const AppError *app = dynamic_cast<const AppError *>(&e);
        std::printf("caught runtime_error \"%s\" with code %d\n", e.what(), app ? app->code : -1);
    }

    try {
        throw 7;
    } catch (...) {
        std::exception_ptr held = std::current_exception();
        try {
            std::rethrow_exception(held);
        } catch (int n) {
            std::printf("caught int %d through catch (...) and an exception_ptr\n", n);
        }
    }

    std::vector<int> three(3);
    try {
        std::printf("not reached: %d\n", three.at(3));
    } catch (const std::out_of_range &) {
        std::puts("caught out_of_range from vector::at");
    }

    std::printf("exceptions in flight at the end: %d\n", std::uncaught_exceptions());
    return 0;
}
