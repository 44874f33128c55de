//! Link-time settings for Skiff's binaries, `skiff` and `containerd-shim-skiff-v1` (whose package
//! points here): what their start costs before `main`. Every `skiff` command and every `skiff
//! run` pays it (`benches/cold-start.sh`), and so does every task containerd creates, for which
//! it runs `containerd-shim-skiff-v1 start` (`benches/shim.sh`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    // Cargo reruns this when it changes; otherwise only `CC` matters. (A `rerun-if-changed` of
    // `build.rs` would name a missing file in the shim's package, and rebuild the shim every time.)
    println!("cargo:rerun-if-env-changed=CC");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux")
        || std::env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("gnu")
    {
        return;
    }
    // A position-dependent executable: a PIE's ~60k relative relocations make the loader write
    // (copy-on-write) the whole 1 MiB of `.data.rel.ro` at every start, which was most of a
    // `skiff` command's 3.6 ms (now 1.4 ms). Without them those pages are mapped from the file
    // only when used. The cost is ASLR for the executable's own image (as Go's default linux
    // binaries, e.g. Docker's); libraries, heap, stacks and every guest's memory stay randomized,
    // and the guest sandbox does not rest on host address secrecy.
    println!("cargo:rustc-link-arg-bins=-no-pie");
    static_libgcc();
    if rust_lld() {
        startup_order();
        lazy_jemalloc();
    }
}

/// Whether the binaries are linked by the linker Rust uses by default on this target, `rust-lld`,
/// which takes the options below; any other linker gets the default layout.
fn rust_lld() -> bool {
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // `linker` also catches `linker-flavor` and `linker-features`.
    std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu")
        && std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_none()
        && !flags.contains("linker")
        && !flags.contains("link-self-contained")
}

/// jemalloc's constructors left out of the link: they set up its arena 0 in every process, about
/// 0.1 ms of every `skiff run`, which then allocates with glibc's malloc (src/allocator.rs).
/// jemalloc sets itself up at its first allocation instead, on the main thread before any other
/// starts, in the verbs that use it. Its init lock is then never set up by `_init_init_lock`; it
/// is a zeroed pthread mutex, glibc's `PTHREAD_MUTEX_INITIALIZER` (a plain mutex, not adaptive).
/// The linker script augments the default layout (`INSERT`); only `rust-lld` takes it this way.
fn lazy_jemalloc() {
    let script = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("lazy-jemalloc.ld");
    let discard = "*tikv_jemalloc_sys*:jemalloc.pic.o(.init_array .init_array.* .ctors .ctors.*)";
    std::fs::write(
        &script,
        format!("SECTIONS {{\n  /DISCARD/ : {{ {discard} }}\n}}\nINSERT AFTER .init_array;\n"),
    )
    .expect("write the jemalloc linker script");
    println!("cargo:rustc-link-arg-bins={}", script.display());
}

/// The functions a start runs, placed side by side at the front of `.text` by the linker, in
/// the order recorded in the package's `startup.order` (the CLI's by `scripts/startup-order.sh`,
/// the shim's by `benches/shim.sh`, see below): spread
/// over the binary's code, they cost a page fault per 64 KiB window they touch, about 170 at
/// every `skiff run`; packed, about 15 (2.3 -> 1.8 ms, docs/decisions/0012). A name the
/// file lists that the binary no longer has is skipped.
fn startup_order() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    // `crates/cli` or `crates/shim`: each binary's own list beside its Cargo.toml (the shim's:
    // its `start` and its serving path, `RECORD_ORDER=crates/shim/startup.order benches/shim.sh`).
    let order = dir.join("startup.order");
    println!("cargo:rerun-if-changed={}", order.display());
    if order.is_file() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// The unwinder linked in (`libgcc_eh.a`, what `gcc -static-libgcc` does) instead of
/// `libgcc_s.so.1`: loading that library runs its constructor, `__cpu_indicator_init`, whose
/// dozen `cpuid` instructions each trap to the hypervisor on a VM (about 7 µs each on a
/// Firecracker guest): 0.2 ms of every start. Rust's `unwind` crate asks for `-lgcc_s`; a linker
/// script of that name found first on the search path hands the linker the static archive.
/// Where the compiler driver has no `libgcc_eh.a`, nothing changes.
fn static_libgcc() {
    // The host's compiler names the host's archive: not one to link into a cross build.
    if std::env::var("TARGET").ok() != std::env::var("HOST").ok() {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let Ok(out) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !archive.is_absolute() || !archive.is_file() {
        return;
    }
    let dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("libgcc");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/libgcc");
    std::fs::write(
        dir.join("libgcc_s.so"),
        format!("INPUT({})\n", archive.display()),
    )
    .expect("write the libgcc_s linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
}
