// Prints each argument after the program name on its own line, as given (cli_args.rs in C).
#include <stdio.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) puts(argv[i]);
    return 0;
}
