// Prints `Hello, world!`, or `Hello, NAME!` when run with `--name NAME`: the behaviour of
// src/bin/cli_hello.rs and c/c_hello.c, from C++ through libc++'s iostreams (zig c++, see
// crates/test-programs/artifacts/build.rs). libc++'s stream operators catch and rethrow inside
// their headers, so even this module uses Wasm exception handling.
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string name = "world";
    for (std::size_t i = 0; i + 1 < args.size(); i++) {
        if (args[i] == "--name") name = args[i + 1];
    }
    std::cout << "Hello, " << name << "!" << std::endl;
    return 0;
}
