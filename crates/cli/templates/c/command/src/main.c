// A WASI command: `skiff run` calls `main` once and passes on its exit code.
#include <stdio.h>

int main(void) {
    printf("Hello from C!\n");
    return 0;
}
