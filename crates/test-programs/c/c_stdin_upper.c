// Copies stdin to stdout in upper case until end of input (cli_stdin_upper.rs in C).
#include <ctype.h>
#include <stdio.h>

int main(void) {
    int c;
    while ((c = getchar()) != EOF) putchar(toupper(c));
    return 0;
}
