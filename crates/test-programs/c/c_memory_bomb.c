// Allocates, touches and keeps 1 MiB chunks forever (cli_memory_bomb.rs in C); when malloc fails
// it aborts, as a C program out of memory does. The test expects the host's memory limit to stop
// it, not the machine.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1024 * 1024)

// The chunks are chained from a global, so the compiler cannot drop them as unused.
static char *volatile kept;

int main(void) {
    for (size_t count = 1;; count++) {
        char *chunk = malloc(MIB);
        if (!chunk) abort();
        memset(chunk, 1, MIB);
        memcpy(chunk, (char **)&kept, sizeof(char *));
        kept = chunk;
        if (count % 64 == 0) fprintf(stderr, "%zu MiB\n", count);
    }
}
