//! The heap: jemalloc for the verbs that serve (`skiff daemon`, `skiff serve`), glibc's malloc for
//! the rest (docs/decisions/0010-jemalloc.md).
//!
//! jemalloc makes an allocating request cheaper (an in-process call 43 against 48 µs of CPU), but
//! a short command pays for it: its setup makes arena 0, and each thread's first allocation then
//! builds a per-CPU arena and a thread cache, whose pages and those of jemalloc's 2 MiB extents
//! are faulted in one by one. Leaving that to glibc took about 0.17 ms off `skiff run hello.wasm`
//! (2.50 to 2.33 ms, this 2-core VM). jemalloc's own constructors, which would set it up in every
//! process, are left out of the link (build.rs): it sets itself up at its first allocation.
//! The choice is made once, from the command line, before the first allocation, and never
//! changes, so every block is freed by the allocator that gave it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, c_char, c_int};
use std::sync::atomic::{AtomicU8, Ordering};

use tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before its first allocation (the crate's build prefixes the symbol):
/// one arena per CPU rather than four, so an app's small allocations, made from whichever thread
/// served it, share slabs instead of leaving a part-used slab in each arena (7-25 % less memory
/// per idle app in the daemon than the defaults, decision 0010). `_RJEM_MALLOC_CONF` overrides it.
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_CONF: &[u8; 20] = b"percpu_arena:percpu\0";

const UNDECIDED: u8 = 0;
const GLIBC: u8 = 1;
const JEMALLOC: u8 = 2;

/// What the command line asked for, recorded by [`READ_ARGS`] before `main`. Where that cannot be
/// read (not glibc), every verb keeps jemalloc.
static WANTED: AtomicU8 = AtomicU8::new(if cfg!(all(target_os = "linux", target_env = "gnu")) {
    GLIBC
} else {
    JEMALLOC
});
/// The allocator in use: fixed by the first allocation.
static CHOSEN: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The verbs that serve requests for as long as they run.
const SERVING_VERBS: [&[u8]; 2] = [b"daemon", b"serve"];

/// Whether a command line (without the program's name) starts a serving verb. Any word that
/// names one counts, even a guest's argument (`skiff run app.wasm serve`): that costs only the
/// 0.17 ms of jemalloc's start, while missing a daemon would cost every request it serves.
fn serves<'a>(mut args: impl Iterator<Item = &'a [u8]>) -> bool {
    args.any(|arg| SERVING_VERBS.contains(&arg))
}

/// glibc calls `.init_array` functions with `argc`, `argv` and `envp`, before `main` and before
/// the Rust runtime allocates (std reads its `args` the same way).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[unsafe(link_section = ".init_array")]
static READ_ARGS: extern "C" fn(c_int, *const *const c_char, *const *const c_char) = read_args;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn read_args(argc: c_int, argv: *const *const c_char, _env: *const *const c_char) {
    if argv.is_null() {
        return;
    }
    let args = (1..usize::try_from(argc).unwrap_or(0)).filter_map(|i| {
        // SAFETY: glibc passes `argc` valid, NUL-terminated `argv` entries.
        let arg = unsafe { *argv.add(i) };
        (!arg.is_null()).then(|| unsafe { CStr::from_ptr(arg) }.to_bytes())
    });
    if serves(args) {
        WANTED.store(JEMALLOC, Ordering::Relaxed);
    }
}

pub struct Allocator;

impl Allocator {
    #[inline]
    fn jemalloc(&self) -> bool {
        match CHOSEN.load(Ordering::Relaxed) {
            UNDECIDED => {
                let wanted = WANTED.load(Ordering::Relaxed);
                // The first allocation decides, whatever thread makes it.
                match CHOSEN.compare_exchange(
                    UNDECIDED,
                    wanted,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => wanted == JEMALLOC,
                    Err(chosen) => chosen == JEMALLOC,
                }
            }
            chosen => chosen == JEMALLOC,
        }
    }
}

// SAFETY: each call goes to the allocator fixed before any block was handed out, so a block is
// always resized and freed by the one that allocated it; both uphold `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.jemalloc() {
            unsafe { Jemalloc.alloc(layout) }
        } else {
            unsafe { System.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.jemalloc() {
            unsafe { Jemalloc.alloc_zeroed(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.jemalloc() {
            unsafe { Jemalloc.dealloc(ptr, layout) }
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.jemalloc() {
            unsafe { Jemalloc.realloc(ptr, layout, new_size) }
        } else {
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::serves;

    fn check(line: &str) -> bool {
        serves(line.split_whitespace().map(str::as_bytes))
    }

    #[test]
    fn serving_verbs_get_jemalloc_and_the_rest_glibc() {
        assert!(check("daemon"));
        assert!(check("--root /tmp/x daemon --gateway 127.0.0.1:8080"));
        assert!(check("serve app.wasm"));
        assert!(!check("run hello.wasm"));
        assert!(!check("run -d --name web app.wasm"));
        assert!(!check("ps"));
        assert!(!check(""));
    }
}
