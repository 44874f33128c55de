// Prints every environment variable as `KEY=VALUE`, sorted, one per line (cli_env.rs in C). The
// test expects exactly the variables the host granted, and nothing by default.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int by_string(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void) {
    size_t count = 0;
    while (environ[count]) count++;
    char **sorted = malloc((count + 1) * sizeof *sorted);
    if (!sorted) return 1;
    memcpy(sorted, environ, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, by_string);
    for (size_t i = 0; i < count; i++) puts(sorted[i]);
    free(sorted);
    return 0;
}
