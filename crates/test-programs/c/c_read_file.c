// Prints the file at argv[1] to stdout; on error prints `error: <strerror>` to stderr and exits 1
// (cli_read_file.rs in C): the test expects the contents of a granted file, or that error.
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("error: usage: c_read_file PATH\n", stderr);
        return 1;
    }
    FILE *file = fopen(argv[1], "rb");
    if (!file) {
        fprintf(stderr, "error: %s\n", strerror(errno));
        return 1;
    }
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, file)) > 0) fwrite(buffer, 1, n, stdout);
    if (ferror(file)) {
        fprintf(stderr, "error: %s\n", strerror(errno));
        return 1;
    }
    fclose(file);
    return 0;
}
