// Throws an exception that no handler catches. Wasm has no two-phase unwinding: the exception
// unwinds the whole stack, running the destructors on the way (each line below is flushed at
// once, as a trap loses what stdio still buffers), and leaves `_start` as an uncaught Wasm
// exception, which ends the run with an error. The test checks the lines and the exit status.
#include <cstdio>
#include <stdexcept>

struct Noisy {
    ~Noisy() {
        std::puts("destructor ran while unwinding");
        std::fflush(stdout);
    }
};

__attribute__((noinline)) void fail() {
    Noisy noisy;
    std::puts("throwing");
    std::fflush(stdout);
    throw std::runtime_error("nobody catches this");
}

int main() {
    fail();
    std::puts("not reached");
    return 0;
}
