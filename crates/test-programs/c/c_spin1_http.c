// An HTTP handler as Spin 1's SDKs built one from a command (`_start`, as Spin 1's Rust and
// JavaScript templates did): wit-bindgen 0.2's `handle-http-request`, `canonical_abi_realloc` and
// `canonical_abi_free`, exported from a module whose every export wasm-ld makes run the
// constructors first; it reads its environment, so a constructor calls WASI. Answers 200 with
// `GREETING URI`.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((export_name("canonical_abi_realloc")))
void *canonical_abi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
    if (new_size == 0) return (void *)align;
    void *grown = realloc(ptr, new_size);
    if (!grown) abort();
    return grown;
}

__attribute__((export_name("canonical_abi_free")))
void canonical_abi_free(void *ptr, size_t size, size_t align) {
    if (size != 0) free(ptr);
}

extern char **environ;

// The response: status (u16 at 0), headers (an option at 4: none), body (an option at 16: its
// case, then the list at 20).
static uint32_t response[7];

__attribute__((export_name("handle-http-request")))
uint32_t *handle_http_request(int32_t method, char *uri, size_t uri_len, void *headers,
                              size_t headers_len, void *params, size_t params_len,
                              int32_t has_body, char *body, size_t body_len) {
    // `environ` itself, not `getenv`: wasi-libc then reads the environment in a constructor.
    const char *greeting = "(no GREETING)";
    for (char **entry = environ; *entry; entry++) {
        if (strncmp(*entry, "GREETING=", 9) == 0) greeting = *entry + 9;
    }
    size_t size = strlen(greeting) + uri_len + 3;
    char *text = malloc(size);
    if (!text) abort();
    int written = snprintf(text, size, "%s %.*s\n", greeting, (int)uri_len, uri);
    response[0] = 200;
    response[1] = 0;
    response[4] = 1;
    response[5] = (uint32_t)(uintptr_t)text;
    response[6] = (uint32_t)written;
    return response;
}

int main(void) { return 0; }
