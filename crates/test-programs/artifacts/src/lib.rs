//! Paths of Skiff's guest test programs, compiled for wasm32 by this crate's build script.
//!
//! Every program in `crates/test-programs/src/bin` gets a constant holding the absolute path of its
//! `.wasm`: `cli_*` programs are built for wasm32-wasip1 (`P1_CLI_HELLO`, a core module) and
//! wasm32-wasip2 (`P2_CLI_HELLO`, a component); `p2_*` programs only for wasm32-wasip2, with the
//! prefix not repeated (`p2_tcp_echo_client` -> `P2_TCP_ECHO_CLIENT`); `http_*` programs are HTTP
//! handlers (components exporting `wasi:http/incoming-handler`, the `wasi:http/proxy` world), built
//! only for wasm32-wasip2 (`http_hello` -> `P2_HTTP_HELLO`).
//!
//! `p3/examples/p3_*.rs` programs are WASI 0.3 commands (components exporting
//! `wasi:cli/run@0.3.0`), built for wasm32-wasip2 (`p3_args_env` -> `P3_ARGS_ENV`).
//!
//! `c/c_*.c` programs are built with clang 19 and wasi-libc as WASI preview 1 modules
//! (`c/c_hello.c` -> `C_HELLO`): the same behaviours from a second toolchain. `cpp/cpp_*.cpp`
//! programs are built with `zig c++` (libc++, C++ exceptions as Wasm exception handling) as WASI
//! preview 1 modules (`cpp/cpp_hello.cpp` -> `CPP_HELLO`); every one of them uses the
//! exception-handling proposal (the build checks for its tag section).
//!
//! [`foreach_p1!`], [`foreach_p2!`], [`foreach_p3!`], [`foreach_http!`], [`foreach_c!`] and
//! [`foreach_cpp!`] call a
//! macro once per constant with its lowercase name (`$mac!(p1_cli_hello);`), so a test file can
//! check that every program has a test: `foreach_p1!(assert_test_exists);`. [`foreach_p2!`] lists
//! the programs run as commands (`cli_*` and `p2_*`) and leaves out the HTTP handlers, which
//! [`foreach_http!`] lists (`$mac!(p2_http_hello);`).

include!(concat!(env!("OUT_DIR"), "/gen.rs"));
