//! Compiles the guest programs in `crates/test-programs` for wasm32-wasip1 and wasm32-wasip2 and writes
//! `$OUT_DIR/gen.rs`, which names the absolute path of every `.wasm` (see `src/lib.rs`).
//!
//! `src/bin/cli_*.rs` is built for both targets, `src/bin/p2_*.rs` and `src/bin/http_*.rs` (HTTP
//! handlers exporting wasi:http/incoming-handler) for wasm32-wasip2 only. `p3/examples/p3_*.rs`
//! are WASI 0.3 commands (a package of their own, each a cdylib example exporting
//! `wasi:cli/run@0.3.0`), built for wasm32-wasip2. `spin/` is an HTTP component written with the
//! Spin SDK 5 (a package of its own), built for wasm32-wasip2 and, as Spin's templates build it,
//! wasm32-wasip1; `spin7/` the same written with Spin SDK 7 (a WASI 0.3 component); `spin-redis/`
//! a Redis trigger's component written with the Spin SDK, for both targets, and `spin7-redis/`
//! the same with Spin SDK 7.
//! `c/*.c` (named `c_*`) are built with clang 19 and wasi-libc as WASI preview 1 modules, so the
//! runtime's behaviours are also tested with a second toolchain's output. `cpp/*.cpp` (named
//! `cpp_*`) are built with `zig c++` (zig 0.17: clang 22, libc++, wasi-libc) with C++ exceptions
//! as Wasm exception handling, linked with the exception runtime built here (see [`CXX_FLAGS`]).
//! The nested cargo uses its own target dir (`<workspace>/target/test-programs`, or
//! `$SKIFF_TEST_PROGRAMS_TARGET_DIR`), so it never waits on the lock held by the outer build.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const P1: &str = "wasm32-wasip1";
const P2: &str = "wasm32-wasip2";
const TARGET_DIR_OVERRIDE: &str = "SKIFF_TEST_PROGRAMS_TARGET_DIR";
/// Where scripts/install-toolchains.sh puts `bin/zig` (default `~/.cache/skiff-toolchains`).
const TOOLCHAINS_DIR: &str = "SKIFF_TOOLCHAINS";
/// The zig release the C++ programs are built with (scripts/install-toolchains.sh's `ZIGLANG`);
/// the flags below are for its LLVM (22).
const ZIG_VERSION: &str = "0.17.";

/// `zig c++` flags for the C++ programs and the exception runtime linked into them.
///
/// - `-fwasm-exceptions`: `throw`/`catch` as the Wasm exception-handling proposal's instructions.
/// - `-mcpu=generic+exception_handling`: zig takes the target's features from `-mcpu` only and,
///   unlike clang's own driver, does not turn the feature on for `-fwasm-exceptions`; without it
///   LLVM stops with "Cannot select: ... cleanupret".
/// - `-mllvm -wasm-use-legacy-eh=false`: LLVM 22 still emits the legacy form (`try`, `catch`,
///   `delegate`) unless told otherwise; wasmtime 48 runs only the standard one (`try_table`,
///   `exnref`), and refuses the legacy form ("legacy_exceptions feature required").
/// - `-g0`: no DWARF from these files (zig's prebuilt libc and libc++ still carry theirs); the
///   name section stays, so a trap's backtrace names the C++ functions.
const CXX_FLAGS: &[&str] = &[
    "-target",
    "wasm32-wasi",
    "-mcpu=generic+exception_handling",
    "-fwasm-exceptions",
    "-mllvm",
    "-wasm-use-legacy-eh=false",
    "-O2",
    "-g0",
];

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let guest_dir = manifest_dir
        .parent()
        .expect("artifacts crate lives in crates/test-programs")
        .to_path_buf();
    let workspace_dir = guest_dir
        .parent()
        .and_then(Path::parent)
        .expect("crates/test-programs lives two levels below the workspace root");
    let target_dir = match env::var_os(TARGET_DIR_OVERRIDE) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_dir.join("target").join("test-programs"),
    };

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={TARGET_DIR_OVERRIDE}");
    println!("cargo:rerun-if-env-changed={TOOLCHAINS_DIR}");
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "c",
        "cpp",
        "p3/Cargo.toml",
        "p3/Cargo.lock",
        "p3/src",
        "p3/examples",
        "spin/Cargo.toml",
        "spin/Cargo.lock",
        "spin/src",
        "spin-redis/Cargo.toml",
        "spin-redis/Cargo.lock",
        "spin-redis/src",
        "spin1/Cargo.toml",
        "spin1/Cargo.lock",
        "spin1/src",
        "spin1/examples",
        "spin7-redis/Cargo.toml",
        "spin7-redis/Cargo.lock",
        "spin7-redis/src",
        "spin7/Cargo.toml",
        "spin7/Cargo.lock",
        "spin7/src",
    ] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(path).display());
    }

    let programs = list_programs(&guest_dir.join("src").join("bin"));
    for program in &programs {
        println!(
            "cargo:rerun-if-changed={}",
            guest_dir
                .join("src")
                .join("bin")
                .join(format!("{program}.rs"))
                .display()
        );
    }
    let p1: Vec<&str> = programs
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with("cli_"))
        .collect();
    let p2: Vec<&str> = programs.iter().map(String::as_str).collect();
    let is_http = |program: &str| program.starts_with("http_");

    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    for target in [P1, P2] {
        check_target_installed(&rustc, target);
    }
    let p1_bins: Vec<&str> = p1.iter().flat_map(|program| ["--bin", program]).collect();
    cargo_build(&guest_dir, &target_dir, P1, &p1_bins);
    cargo_build(&guest_dir, &target_dir, P2, &["--bins"]);
    let p3_dir = guest_dir.join("p3");
    let p3 = list_sources(&p3_dir.join("examples"), "p3", "rs");
    for program in &p3 {
        println!(
            "cargo:rerun-if-changed={}",
            p3_dir
                .join("examples")
                .join(format!("{program}.rs"))
                .display()
        );
    }
    // Every WASI 0.3 program is an example of its package (a cdylib: see p3/Cargo.toml).
    cargo_build(&p3_dir, &target_dir, P2, &["--examples"]);
    // A component written with the Spin SDK (spin/Cargo.toml); for wasm32-wasip1 too, as Spin's
    // templates build it: a core module that describes the component it is to become.
    for target in [P2, P1] {
        cargo_build(&guest_dir.join("spin"), &target_dir, target, &["--lib"]);
        // A Redis trigger's component (spin-redis/Cargo.toml), as `spin new -t redis-rust`.
        cargo_build(
            &guest_dir.join("spin-redis"),
            &target_dir,
            target,
            &["--lib"],
        );
    }
    // The same written with Spin SDK 7 (spin7/Cargo.toml): a WASI 0.3 component.
    cargo_build(&guest_dir.join("spin7"), &target_dir, P2, &["--lib"]);
    cargo_build(&guest_dir.join("spin7-redis"), &target_dir, P2, &["--lib"]);
    // Handlers as Spin's Go SDK v2 and Spin 1's SDKs build them (wit-bindgen 0.2's ABI).
    cargo_build(&guest_dir.join("spin1"), &target_dir, P1, &["--examples"]);

    let target_dir = target_dir.canonicalize().unwrap_or(target_dir);
    let wasm = |target: &str, program: &str| -> String {
        let path = target_dir
            .join(target)
            .join("release")
            .join(format!("{program}.wasm"));
        assert!(
            path.is_file(),
            "cargo reported success but {} does not exist",
            path.display()
        );
        path.to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 path {}", path.display()))
            .to_string()
    };

    let mut code = String::from("// @generated by crates/test-programs/artifacts/build.rs\n\n");
    let mut p1_names = Vec::new();
    for &program in &p1 {
        let name = format!("p1_{program}");
        writeln!(
            code,
            "/// `src/bin/{program}.rs` built for {P1} (a core module)."
        )
        .unwrap();
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            name.to_uppercase(),
            wasm(P1, program)
        )
        .unwrap();
        p1_names.push(name);
    }
    let mut p2_names = Vec::new();
    let mut http_names = Vec::new();
    for &program in &p2 {
        let name = match program.strip_prefix("p2_") {
            Some(rest) => format!("p2_{rest}"),
            None => format!("p2_{program}"),
        };
        if is_http(program) {
            writeln!(
                code,
                "/// `src/bin/{program}.rs` built for {P2} (a component exporting wasi:http/incoming-handler)."
            )
            .unwrap();
        } else {
            writeln!(
                code,
                "/// `src/bin/{program}.rs` built for {P2} (a component)."
            )
            .unwrap();
        }
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            name.to_uppercase(),
            wasm(P2, program)
        )
        .unwrap();
        if is_http(program) {
            http_names.push(name);
        } else {
            p2_names.push(name);
        }
    }
    let mut p3_names = Vec::new();
    for program in &p3 {
        writeln!(
            code,
            "/// `p3/examples/{program}.rs` built for {P2} (a WASI 0.3 component exporting \
             wasi:cli/run@0.3.0)."
        )
        .unwrap();
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            program.to_uppercase(),
            wasm(P2, &format!("examples/{program}"))
        )
        .unwrap();
        p3_names.push(program.clone());
    }
    writeln!(
        code,
        "/// `spin/src/lib.rs` built for {P2}: an HTTP component written with the Spin SDK 5.0.\n\
         pub const SPIN_SDK_HTTP: &str = {:?};\n\
         /// The same built for {P1}, as Spin's templates build it: a core module with the \
         component's type in a custom section.\n\
         pub const SPIN_SDK_HTTP_P1: &str = {:?};\n\
         /// `spin7/src/lib.rs` built for {P2}: the same written with Spin SDK 7, a WASI 0.3 \
         component importing Spin's `spin:*@3.0.0` interfaces.\n\
         pub const SPIN_SDK7_HTTP: &str = {:?};\n\
         /// `spin-redis/src/lib.rs` built for {P2}: a Redis trigger's component written with \
         the Spin SDK 5.0.\n\
         pub const SPIN_SDK_REDIS: &str = {:?};\n\
         /// The same built for {P1}, as Spin's `redis-rust` template builds it.\n\
         pub const SPIN_SDK_REDIS_P1: &str = {:?};\n\
         /// `spin7-redis/src/lib.rs` built for {P2}: the same written with Spin SDK 7.\n\
         pub const SPIN_SDK7_REDIS: &str = {:?};\n\
         /// `spin1/examples/spin1_http.rs` built for {P1}: an HTTP handler as Spin's Go SDK v2 \
         and Spin 1's SDKs build one, a core module in wit-bindgen 0.2's canonical ABI.\n\
         pub const SPIN1_HTTP_P1: &str = {:?};\n\
         /// `spin1/examples/spin1_redis.rs` built for {P1}: a Redis trigger's handler built so.\n\
         pub const SPIN1_REDIS_P1: &str = {:?};",
        wasm(P2, "spin_sdk_http"),
        wasm(P1, "spin_sdk_http"),
        wasm(P2, "spin_sdk7_http"),
        wasm(P2, "spin_sdk_redis"),
        wasm(P1, "spin_sdk_redis"),
        wasm(P2, "spin_sdk7_redis"),
        wasm(P1, "examples/spin1_http"),
        wasm(P1, "examples/spin1_redis")
    )
    .unwrap();
    let mut c_names = Vec::new();
    for program in list_sources(&guest_dir.join("c"), "c", "c") {
        let source = guest_dir.join("c").join(format!("{program}.c"));
        println!("cargo:rerun-if-changed={}", source.display());
        let wasm = clang_build(&source, &target_dir.join("c"), &program);
        writeln!(
            code,
            "/// `c/{program}.c` built with clang 19 and wasi-libc (a WASI preview 1 module)."
        )
        .unwrap();
        writeln!(
            code,
            "pub const {}: &str = {:?};",
            program.to_uppercase(),
            wasm
        )
        .unwrap();
        c_names.push(program);
    }
    let mut cpp_names = Vec::new();
    let cpp_dir = guest_dir.join("cpp");
    let cpp_programs = list_sources(&cpp_dir, "cpp", "cpp");
    if !cpp_programs.is_empty() {
        let zig = Zig::find();
        let out_dir = target_dir.join("cpp");
        let runtime = zig.exception_runtime(&out_dir, &cpp_dir.join("exception_tag.S"));
        for program in cpp_programs {
            let source = cpp_dir.join(format!("{program}.cpp"));
            println!("cargo:rerun-if-changed={}", source.display());
            let wasm = zig.cxx_program(&source, &runtime, &out_dir, &program);
            writeln!(
                code,
                "/// `cpp/{program}.cpp` built with `zig c++` {}, libc++ and Wasm exceptions (a WASI \
                 preview 1 module).",
                zig.version
            )
            .unwrap();
            writeln!(
                code,
                "pub const {}: &str = {:?};",
                program.to_uppercase(),
                wasm
            )
            .unwrap();
            cpp_names.push(program);
        }
    }
    write_foreach(
        &mut code,
        "foreach_cpp",
        "C++ program (`cpp/*.cpp`, a wasm32-wasi module that uses Wasm exception handling)",
        &cpp_names,
    );
    write_foreach(
        &mut code,
        "foreach_c",
        "C program (`c/*.c`, a wasm32-wasi module)",
        &c_names,
    );
    write_foreach(&mut code, "foreach_p1", &format!("{P1} program"), &p1_names);
    write_foreach(
        &mut code,
        "foreach_p2",
        &format!("{P2} command program (`cli_*`, `p2_*`; not the `http_*` handlers)"),
        &p2_names,
    );
    write_foreach(
        &mut code,
        "foreach_p3",
        "WASI 0.3 command program (`p3/examples/p3_*.rs`)",
        &p3_names,
    );
    write_foreach(
        &mut code,
        "foreach_http",
        &format!("{P2} HTTP handler program (`http_*`)"),
        &http_names,
    );

    std::fs::write(out_dir.join("gen.rs"), code).expect("write $OUT_DIR/gen.rs");
}

/// Sorted stems of `src/bin/*.rs`; each must be `cli_*`, `p2_*` or `http_*` and a valid identifier.
fn list_programs(bin_dir: &Path) -> Vec<String> {
    let entries =
        std::fs::read_dir(bin_dir).unwrap_or_else(|e| panic!("reading {}: {e}", bin_dir.display()));
    let mut programs = Vec::new();
    for entry in entries {
        let path = entry.expect("reading src/bin entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 program name")
            .to_string();
        assert!(
            ["cli_", "p2_", "http_"].iter().any(|p| stem.starts_with(p)),
            "{}: guest programs must be named cli_* (wasip1 + wasip2), p2_* (wasip2 only) or http_* \
             (wasip2 HTTP handler)",
            path.display()
        );
        assert!(
            stem.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}: program names must be lowercase snake_case",
            path.display()
        );
        programs.push(stem);
    }
    programs.sort();
    programs
}

/// Sorted stems of `DIR/*.EXT` (`c/*.c`, `cpp/*.cpp`); each must be `PREFIX_*` and a valid
/// identifier.
fn list_sources(dir: &Path, prefix: &str, ext: &str) -> Vec<String> {
    let mut programs: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a guest source entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == ext))
        .map(|path| {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 program name")
                .to_string();
            assert!(
                stem.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('_'))
                    && stem
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}: guest programs in {}/ must be named {prefix}_*, in lowercase snake_case",
                path.display(),
                dir.display()
            );
            stem
        })
        .collect();
    programs.sort();
    programs
}

/// Compiles one C program with Debian's clang 19 against wasi-libc; returns the `.wasm` path.
fn clang_build(source: &Path, out_dir: &Path, program: &str) -> String {
    std::fs::create_dir_all(out_dir).expect("create the C programs' output dir");
    let wasm = out_dir.join(format!("{program}.wasm"));
    let status = Command::new("clang-19")
        .args([
            "--target=wasm32-wasi",
            "--sysroot=/usr",
            "-O2",
            "-Wall",
            "-Werror",
            "-o",
        ])
        .arg(&wasm)
        .arg(source)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("clang-19 failed on {} ({status})", source.display()),
        Err(e) => panic!(
            "\n\ncannot run clang-19 ({e}), needed to build Skiff's C guest test programs.\n\
             Install it with wasi-libc:\n\n    \
             apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32\n\n\
             (scripts/install-test-deps.sh does)\n\n"
        ),
    }
    let wasm = wasm.canonicalize().unwrap_or(wasm);
    wasm.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path {}", wasm.display()))
        .to_string()
}

/// `zig` as scripts/install-toolchains.sh installs it, for the C++ programs.
struct Zig {
    program: PathBuf,
    version: String,
    /// zig's `lib/`: its copies of libc++abi's and libunwind's sources are there.
    lib_dir: PathBuf,
}

impl Zig {
    /// `$SKIFF_TOOLCHAINS/bin/zig` (default `~/.cache/skiff-toolchains/bin/zig`), else `zig` on
    /// PATH; panics with how to install it when there is none of release [`ZIG_VERSION`].
    fn find() -> Zig {
        let installed = env::var_os(TOOLCHAINS_DIR)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env::var_os("HOME").map(|home| Path::new(&home).join(".cache/skiff-toolchains"))
            })
            .map(|dir| dir.join("bin").join("zig"))
            .filter(|zig| zig.is_file());
        let program = installed.unwrap_or_else(|| PathBuf::from("zig"));
        let install = "\n\nInstall it with scripts/install-toolchains.sh (`pip install ziglang==0.17.1` \
                       in a venv, and a `zig` that runs `python3 -m ziglang`; \
                       scripts/install-test-deps.sh runs it)\n\n";
        let version = match Command::new(&program).arg("version").output() {
            Ok(out) if out.status.success() => {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            }
            Ok(out) => panic!(
                "\n\n`{} version` failed ({}): {}{install}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!(
                "\n\ncannot run zig ({}: {e}), needed to build Skiff's C++ guest test programs \
                 (`zig c++` with its libc++ and Wasm exception handling).{install}",
                program.display()
            ),
        };
        assert!(
            version.starts_with(ZIG_VERSION),
            "\n\n{} is zig {version}; Skiff's C++ guest test programs are built with zig \
             {ZIG_VERSION}x (their flags are for its LLVM).{install}",
            program.display()
        );
        let env = Command::new(&program)
            .arg("env")
            .output()
            .unwrap_or_else(|e| panic!("running {} env: {e}", program.display()));
        let env = String::from_utf8_lossy(&env.stdout);
        // `zig env` prints ZON: `.lib_dir = "/.../ziglang/lib",`
        let lib_dir = env
            .lines()
            .find_map(|line| line.trim().strip_prefix(".lib_dir = \""))
            .and_then(|rest| rest.strip_suffix("\","))
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("`{} env` names no .lib_dir:\n{env}", program.display()));
        Zig {
            program,
            version,
            lib_dir,
        }
    }

    /// Runs `cmd` (a `zig` command); stdout stays free for the outer build's `cargo:` directives.
    fn run(&self, what: &str, cmd: &mut Command) {
        let status = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .unwrap_or_else(|e| panic!("running {}: {e}", self.program.display()));
        assert!(
            status.success(),
            "`zig` failed on {what} ({status}): {} {}",
            self.program.display(),
            cmd.get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }

    /// The C++ exception runtime, as objects to link into each program.
    ///
    /// zig builds the libc++abi it links for wasm32 without exceptions (as Debian's
    /// `libc++abi-*-dev-wasm32` is built: `cxa_noexception.cpp`, no `__cxa_throw`) and links no
    /// libunwind there, so a `throw` fails to link. These are the pieces that libc++abi's and
    /// libunwind's own builds add with exceptions on, compiled from the LLVM sources zig ships in
    /// its `lib/`: `__cxa_throw`, `__cxa_begin_catch`... (cxa_exception.cpp), the personality
    /// routine that matches a `catch` by type (cxa_personality.cpp), `_Unwind_RaiseException` as a
    /// Wasm `throw` (Unwind-wasm.c), and the tag they throw with (`cpp/exception_tag.S`).
    ///
    /// The order matters: zig puts its libc++abi archive ahead of every object on wasm-ld's
    /// command line, and that archive's `cxa_noexception.o` defines some of cxa_exception.o's
    /// names (`__cxa_uncaught_exceptions`, `__getExceptionClass`...) without exceptions. With
    /// cxa_exception.o the first object, those names are defined before anything refers to them
    /// and the archive's member is never pulled in; were cxa_personality.o first, its reference
    /// to `__getExceptionClass` would pull it in, and the link would fail on duplicates.
    fn exception_runtime(&self, out_dir: &Path, tag: &Path) -> Vec<PathBuf> {
        let dir = out_dir.join("exception-runtime");
        std::fs::create_dir_all(&dir).expect("create the C++ exception runtime's output dir");
        let cxxabi = self.lib_dir.join("libcxxabi");
        let libcxxabi_defines = [
            "-D_LIBCXXABI_BUILDING_LIBRARY",
            "-D_LIBCPP_BUILDING_LIBRARY",
        ];
        // cxa_exception.cpp first: see above.
        let sources: [(PathBuf, Vec<String>); 4] = [
            (
                cxxabi.join("src").join("cxa_exception.cpp"),
                libcxxabi_defines
                    .iter()
                    .map(|d| d.to_string())
                    .chain([
                        format!("-I{}", cxxabi.join("include").display()),
                        // libc++'s src/include/atomic_support.h
                        format!("-I{}", self.lib_dir.join("libcxx").join("src").display()),
                    ])
                    .collect(),
            ),
            (
                cxxabi.join("src").join("cxa_personality.cpp"),
                libcxxabi_defines
                    .iter()
                    .map(|d| d.to_string())
                    .chain([format!("-I{}", cxxabi.join("include").display())])
                    .collect(),
            ),
            (
                self.lib_dir
                    .join("libunwind")
                    .join("src")
                    .join("Unwind-wasm.c"),
                vec![
                    // A static library's symbols: without it, config.h marks them dllexport.
                    "-D_LIBUNWIND_HIDE_SYMBOLS".to_string(),
                    format!(
                        "-I{}",
                        self.lib_dir.join("libunwind").join("include").display()
                    ),
                    "-Wno-c23-extensions".to_string(),
                ],
            ),
            (tag.to_path_buf(), Vec::new()),
        ];
        sources
            .into_iter()
            .map(|(source, extra)| {
                assert!(
                    source.is_file(),
                    "{} is missing: the C++ exception runtime is built from the sources zig \
                     {ZIG_VERSION}x ships",
                    source.display()
                );
                let object = dir.join(format!(
                    "{}.o",
                    source
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .expect("UTF-8 name")
                ));
                let driver = if source.extension().is_some_and(|e| e == "cpp") {
                    "c++"
                } else {
                    "cc"
                };
                self.run(
                    &source.display().to_string(),
                    Command::new(&self.program)
                        .arg(driver)
                        .args(CXX_FLAGS)
                        .args(&extra)
                        .arg("-c")
                        .arg("-o")
                        .arg(&object)
                        .arg(&source),
                );
                object
            })
            .collect()
    }

    /// Compiles and links one C++ program; returns the `.wasm` path.
    fn cxx_program(
        &self,
        source: &Path,
        runtime: &[PathBuf],
        out_dir: &Path,
        program: &str,
    ) -> String {
        let wasm = out_dir.join(format!("{program}.wasm"));
        self.run(
            &source.display().to_string(),
            Command::new(&self.program)
                .arg("c++")
                .args(CXX_FLAGS)
                .args(["-std=c++20", "-Wall", "-Werror", "-o"])
                .arg(&wasm)
                .arg(source)
                .args(runtime),
        );
        // The tests count on each C++ program needing the feature: a Skiff that turned exception
        // handling off must refuse to load it, not run it.
        let bytes =
            std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()));
        assert!(
            has_section(&bytes, TAG_SECTION),
            "{} declares no exception tag, so it does not use Wasm exception handling; \
             build it with -fwasm-exceptions",
            wasm.display()
        );
        let wasm = wasm.canonicalize().unwrap_or(wasm);
        wasm.to_str()
            .unwrap_or_else(|| panic!("non-UTF-8 path {}", wasm.display()))
            .to_string()
    }
}

/// The id of the tag section (exception-handling proposal), where a module's exception tags are.
const TAG_SECTION: u8 = 13;

/// Whether the core module `wasm` has a section with this id.
fn has_section(wasm: &[u8], id: u8) -> bool {
    let leb = |at: &mut usize| -> Option<usize> {
        let mut value = 0usize;
        for shift in (0..35).step_by(7) {
            let byte = *wasm.get(*at)?;
            *at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    };
    // The magic number and the version, then (id, size, contents) each.
    let mut at = 8;
    while at < wasm.len() {
        let section = wasm[at];
        at += 1;
        let Some(size) = leb(&mut at) else {
            return false;
        };
        if section == id {
            return true;
        }
        at += size;
    }
    false
}

fn check_target_installed(rustc: &std::ffi::OsStr, target: &str) {
    let output = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .env_remove("RUSTFLAGS")
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "running {} --print target-libdir: {e}",
                rustc.to_string_lossy()
            )
        });
    let libdir = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let has_std = output.status.success()
        && std::fs::read_dir(&libdir)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
            })
            .unwrap_or(false);
    if !has_std {
        panic!(
            "\n\nthe Rust standard library for `{target}` is not installed (needed to build Skiff's guest test programs).\n\
             Install both guest targets with:\n\n    rustup target add wasm32-wasip1 wasm32-wasip2\n\n"
        );
    }
}

/// Builds the package in `guest_dir` for `target`, the targets that `selection` names (cargo's
/// `--bin NAME`, `--bins`, `--examples`).
fn cargo_build(guest_dir: &Path, target_dir: &Path, target: &str, selection: &[&str]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(guest_dir)
        .arg("build")
        .arg("--release")
        .arg("--manifest-path")
        .arg(guest_dir.join("Cargo.toml"))
        .arg("--target")
        .arg(target)
        .arg("--target-dir")
        .arg(target_dir);
    cmd.args(selection);
    scrub_env(&mut cmd);
    // Cargo writes progress and diagnostics to stderr; stdout must stay free of anything that is not a
    // `cargo:` directive for the outer build.
    cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {}: {e}", cargo.to_string_lossy()));
    if !status.success() {
        panic!(
            "building the guest test programs for {target} failed ({status}): {} {}\n\
             If the error is about a missing `std`/`core`, run: rustup target add wasm32-wasip1 wasm32-wasip2",
            cargo.to_string_lossy(),
            cmd.get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
}

/// Removes variables that the outer cargo sets (or that target the host build) and that would change
/// or break the nested wasm build.
fn scrub_env(cmd: &mut Command) {
    const EXACT: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_RUSTDOCFLAGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_LLVM_COV",
        "CARGO_LLVM_COV_TARGET_DIR",
        "LLVM_PROFILE_FILE",
        "RUSTC_LINKER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_LINKS",
        "__CARGO_FIX_PLZ",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PROFILE_",
        "CARGO_TARGET_",
        "DEP_",
    ];
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
}

fn write_foreach(code: &mut String, macro_name: &str, what: &str, names: &[String]) {
    writeln!(
        code,
        "\n/// Calls `$mac!(name);` for each {what} constant, by its lowercase name."
    )
    .unwrap();
    writeln!(
        code,
        "#[macro_export]\nmacro_rules! {macro_name} {{\n    ($mac:ident) => {{"
    )
    .unwrap();
    for name in names {
        writeln!(code, "        $mac!({name});").unwrap();
    }
    writeln!(code, "    }};\n}}").unwrap();
}
