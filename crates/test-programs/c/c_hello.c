// Prints `Hello, world!`, or `Hello, NAME!` when run with `--name NAME`. The same behaviour as
// src/bin/cli_hello.rs, from C (clang 19, wasi-libc): the test expects exactly that line.
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *name = "world";
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--name") == 0) name = argv[i + 1];
    }
    printf("Hello, %s!\n", name);
    return 0;
}
