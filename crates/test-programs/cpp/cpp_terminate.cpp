// An exception that leaves a `noexcept` function calls std::terminate, as the C++ standard
// requires, even though a handler is waiting outside: the program aborts with libc++abi's
// message. The test checks that message and the trap's exit status.
#include <cstdio>
#include <stdexcept>

__attribute__((noinline)) void promised_not_to_throw() noexcept {
    std::puts("throwing inside noexcept");
    std::fflush(stdout);
    // clang warns that this always terminates; that is the behaviour under test.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wexceptions"
    throw std::runtime_error("escapes noexcept");
#pragma clang diagnostic pop
}

int main() {
    try {
        promised_not_to_throw();
    } catch (...) {
        std::puts("not reached: noexcept ends in std::terminate");
    }
    return 0;
}
