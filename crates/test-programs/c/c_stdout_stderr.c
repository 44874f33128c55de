// Writes `to stdout` to stdout and `to stderr` to stderr (cli_stdout_stderr.rs in C): the host
// must keep the two streams apart.
#include <stdio.h>

int main(void) {
    fputs("to stdout\n", stdout);
    fputs("to stderr\n", stderr);
    return 0;
}
