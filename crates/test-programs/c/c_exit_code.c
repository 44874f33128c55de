// Exits with the code given as argv[1] (cli_exit_code.rs in C): the host must pass it on.
#include <stdlib.h>

int main(int argc, char **argv) {
    return argc > 1 ? atoi(argv[1]) : 0;
}
