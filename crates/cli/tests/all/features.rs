//! Every WebAssembly feature that `wasmtime run` 48 enables by default runs in `skiff run`
//! (issue 12): Skiff never runs less than its own engine's CLI. Each test is a WASI command that
//! uses one feature and prints what it computed; a feature wasmtime leaves off gets an error that
//! names it.

use crate::support::{Outcome, Skiff, path_str, write_file};

/// `print(i64)`: writes the number in decimal and a newline to stdout, through `fd_write` on
/// memory 0. The program under test is spliced in after it.
const PRELUDE: &str = r#"
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (func $print (param $n i64)
        (local $p i32) (local $neg i32)
        (local.set $p (i32.const 200))
        (i32.store8 (local.get $p) (i32.const 10))
        (if (i64.lt_s (local.get $n) (i64.const 0)) (then
            (local.set $neg (i32.const 1))
            (local.set $n (i64.sub (i64.const 0) (local.get $n)))))
        (loop $digit
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (i32.store8 (local.get $p)
                (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
            (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
            (br_if $digit (i64.ne (local.get $n) (i64.const 0))))
        (if (local.get $neg) (then
            (local.set $p (i32.sub (local.get $p) (i32.const 1)))
            (i32.store8 (local.get $p) (i32.const 45))))
        (i32.store (i32.const 0) (local.get $p))
        (i32.store (i32.const 4) (i32.sub (i32.const 201) (local.get $p)))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
"#;

/// A WASI command: the prelude, a 1-page memory 0 (unless `body` declares its own as
/// `(memory (export "memory") ...)`), then `body`, which exports `_start`.
fn command(body: &str) -> String {
    let memory = if body.contains(r#"(memory (export "memory")"#) {
        ""
    } else {
        r#"(memory (export "memory") 1)"#
    };
    format!("(module {PRELUDE} {memory} {body})")
}

fn run_wat(name: &str, wat: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), name, wat);
    Skiff::new().run(&["run", path_str(&path)])
}

/// Runs `body` as a command and checks that it printed `expected`.
#[track_caller]
fn prints(name: &str, body: &str, expected: &str) {
    run_wat(name, &command(body)).success().stdout_is(expected);
}

// --- WebAssembly 2.0: on in every wasmtime; kept here so none is lost when features change.

#[test]
fn mutable_globals_and_sign_extension_and_saturating_conversions() {
    prints(
        "wasm2-scalar.wat",
        r#"(global $g (mut i64) (i64.const 0))
        (func (export "_start")
            (global.set $g (i64.extend8_s (i64.const 0xff)))
            (call $print (global.get $g))
            (call $print (i64.extend_i32_s (i32.trunc_sat_f64_s (f64.const 1e100)))))"#,
        "-1\n2147483647\n",
    );
}

#[test]
fn multi_value() {
    prints(
        "multi-value.wat",
        r#"(func $divmod (param i64 i64) (result i64 i64)
            (i64.div_u (local.get 0) (local.get 1))
            (i64.rem_u (local.get 0) (local.get 1)))
        (func (export "_start")
            (call $divmod (i64.const 47) (i64.const 10))
            (call $print)
            (call $print))"#,
        "7\n4\n",
    );
}

#[test]
fn bulk_memory() {
    prints(
        "bulk-memory.wat",
        r#"(data $d "\2a")
        (func (export "_start")
            (memory.init $d (i32.const 300) (i32.const 0) (i32.const 1))
            (memory.fill (i32.const 400) (i32.const 7) (i32.const 16))
            (memory.copy (i32.const 301) (i32.const 410) (i32.const 1))
            (call $print (i64.load8_u (i32.const 300)))
            (call $print (i64.load8_u (i32.const 301))))"#,
        "42\n7\n",
    );
}

#[test]
fn reference_types() {
    prints(
        "reference-types.wat",
        r#"(table $t 2 funcref)
        (table $e 1 externref)
        (func $five (result i64) (i64.const 5))
        (elem declare func $five)
        (type $ret (func (result i64)))
        (func (export "_start")
            (table.set $t (i32.const 1) (ref.func $five))
            (call $print (call_indirect $t (type $ret) (i32.const 1)))
            (call $print (i64.extend_i32_u (ref.is_null (table.get $e (i32.const 0)))))
            (call $print (i64.extend_i32_u (table.grow $t (ref.null func) (i32.const 3)))))"#,
        "5\n1\n2\n",
    );
}

#[test]
fn simd() {
    prints(
        "simd.wat",
        r#"(func (export "_start")
            (call $print (i64x2.extract_lane 1
                (i64x2.mul (v128.const i64x2 3 4) (v128.const i64x2 5 6)))))"#,
        "24\n",
    );
}

// --- WebAssembly 3.0: on by default in `wasmtime run` 48.

#[test]
fn exceptions_throw_and_catch() {
    // `throw` two frames down, caught by `try_table` with the tag's payload; a C++ `throw` in
    // a program built with `-fwasm-exceptions` is this.
    prints(
        "exceptions.wat",
        r#"(tag $oops (param i64))
        (func $deep (param $n i64)
            (if (i64.eqz (local.get $n)) (then (throw $oops (i64.const 42))))
            (call $deep (i64.sub (local.get $n) (i64.const 1))))
        (func (export "_start")
            (block $caught (result i64)
                (try_table (catch $oops $caught)
                    (call $deep (i64.const 2)))
                (i64.const -1))
            (call $print))"#,
        "42\n",
    );
}

#[test]
fn exception_references_rethrown() {
    // `catch_ref` and `throw_ref`: exception references (`exnref`), the feature the real-world
    // C++ module of issue 12 failed to load without.
    prints(
        "exnref.wat",
        r#"(tag $e (param i64))
        (func $inner
            (block $h (result i64 exnref)
                (try_table (catch_ref $e $h) (throw $e (i64.const 7)))
                unreachable)
            ;; Cleanup, then rethrow the same exception (a C++ destructor during unwinding).
            (throw_ref (call $note_cleanup)))
        (func $note_cleanup (param i64 exnref) (result exnref)
            (call $print (local.get 0))
            (local.get 1))
        (func (export "_start")
            (block $outer (result i64)
                (try_table (catch $e $outer) (call $inner))
                (i64.const -1))
            (call $print (i64.add (i64.const 100))))"#,
        "7\n107\n",
    );
}

#[test]
fn uncaught_exception_fails_the_run() {
    let out = run_wat(
        "uncaught.wat",
        &command(
            r#"(tag $e)
            (func (export "_start") (throw $e))"#,
        ),
    );
    assert_ne!(out.code, 0, "{out:#?}");
    assert_ne!(
        out.code, 125,
        "an uncaught exception is the guest's failure: {out:#?}"
    );
}

#[test]
fn tail_calls() {
    // A million frames deep without growing the stack: it overflows without `return_call`.
    prints(
        "tail-call.wat",
        r#"(type $step (func (param i64 i64) (result i64)))
        (table 1 funcref)
        (elem (i32.const 0) $sum)
        (func $sum (param $n i64) (param $acc i64) (result i64)
            (if (result i64) (i64.eqz (local.get $n))
                (then (local.get $acc))
                (else
                    (return_call $sum_indirect
                        (i64.sub (local.get $n) (i64.const 1))
                        (i64.add (local.get $acc) (local.get $n))))))
        (func $sum_indirect (param i64 i64) (result i64)
            (return_call_indirect (type $step) (local.get 0) (local.get 1) (i32.const 0)))
        (func (export "_start")
            (call $print (call $sum (i64.const 1000000) (i64.const 0))))"#,
        "500000500000\n",
    );
}

#[test]
fn extended_constant_expressions() {
    prints(
        "extended-const.wat",
        r#"(global $base i64 (i64.const 1000))
        (global $derived i64 (i64.add (i64.mul (global.get $base) (i64.const 3)) (i64.const 7)))
        (func (export "_start") (call $print (global.get $derived)))"#,
        "3007\n",
    );
}

#[test]
fn multiple_memories() {
    prints(
        "multi-memory.wat",
        r#"(memory $second 1)
        (data (memory $second) (i32.const 64) "\05\00\00\00\00\00\00\00")
        (func (export "_start")
            (memory.copy 0 $second (i32.const 500) (i32.const 64) (i32.const 8))
            (i64.store $second (i32.const 8) (i64.const 99))
            (call $print (i64.load (i32.const 500)))
            (call $print (i64.load $second (i32.const 8))))"#,
        "5\n99\n",
    );
}

#[test]
fn memory64() {
    prints(
        "memory64.wat",
        r#"(memory $wide i64 1)
        (func (export "_start")
            (i64.store $wide (i64.const 65528) (i64.const 64))
            (call $print (i64.load $wide (i64.const 65528)))
            (call $print (memory.grow $wide (i64.const 1)))
            (call $print (memory.size $wide)))"#,
        "64\n1\n2\n",
    );
}

#[test]
fn relaxed_simd() {
    // 2 * 3 + 4 is exact whether or not the multiply-add is fused.
    prints(
        "relaxed-simd.wat",
        r#"(func (export "_start")
            (call $print (i64.trunc_f32_s (f32x4.extract_lane 0
                (f32x4.relaxed_madd (v128.const f32x4 2 2 2 2) (v128.const f32x4 3 3 3 3)
                    (v128.const f32x4 4 4 4 4))))))"#,
        "10\n",
    );
}

#[test]
fn threads_atomics() {
    // What a C or Rust program built with `+atomics` runs single-threaded: read-modify-write,
    // loads, notify (no waiters) and fences, here on an ordinary memory.
    prints(
        "atomics.wat",
        r#"(func (export "_start")
            (drop (i64.atomic.rmw.add (i32.const 512) (i64.const 40)))
            (call $print (i64.atomic.rmw.add (i32.const 512) (i64.const 2)))
            (call $print (i64.atomic.rmw.cmpxchg (i32.const 512) (i64.const 42) (i64.const 7)))
            (call $print (i64.atomic.load (i32.const 512)))
            (call $print (i64.extend_i32_u (memory.atomic.notify (i32.const 512) (i32.const 1))))
            (atomic.fence))"#,
        "40\n42\n7\n0\n",
    );
}

#[test]
fn shared_memory_is_refused_by_name() {
    // `wasmtime run` 48 validates shared memories but will not create one unless given
    // `-W shared-memory` (a tier-2 feature, without security fixes); Skiff says so before it
    // runs anything, rather than trapping. (wasi-threads, which spawned threads in one, is gone
    // from wasmtime's CLI.)
    run_wat(
        "shared.wat",
        &command(
            r#"(memory (export "memory") 1 1 shared)
            (func (export "_start") (call $print (i64.const 1)))"#,
        ),
    )
    .code(125)
    .stderr_has("error: `shared.wat` uses the WebAssembly threads proposal's shared memory")
    .stderr_has("hint: ")
    .stdout_is("");
}

#[test]
fn function_references() {
    prints(
        "function-references.wat",
        r#"(type $unary (func (param i64) (result i64)))
        (func $double (type $unary) (i64.mul (local.get 0) (i64.const 2)))
        (elem declare func $double)
        (func $apply (param $f (ref null $unary)) (param $x i64) (result i64)
            (block $null
                (return (call_ref $unary (local.get $x) (br_on_null $null (local.get $f)))))
            (i64.const -1))
        (func (export "_start")
            (call $print (call $apply (ref.func $double) (i64.const 21)))
            (call $print (call $apply (ref.null $unary) (i64.const 21))))"#,
        "42\n-1\n",
    );
}

#[test]
fn gc_structs_arrays_and_casts() {
    prints(
        "gc.wat",
        r#"(type $point (struct (field $x (mut i64)) (field $y i64)))
        (type $list (array (mut i64)))
        (func (export "_start")
            (local $p (ref $point)) (local $a (ref $list)) (local $any anyref)
            (local.set $p (struct.new $point (i64.const 3) (i64.const 4)))
            (struct.set $point $x (local.get $p) (i64.const 30))
            (call $print (i64.add (struct.get $point $x (local.get $p)) (struct.get $point $y (local.get $p))))
            (local.set $a (array.new $list (i64.const 5) (i32.const 10)))
            (array.set $list (local.get $a) (i32.const 9) (i64.const 6))
            (call $print (i64.add (array.get $list (local.get $a) (i32.const 9))
                (i64.extend_i32_u (array.len (local.get $a)))))
            ;; Casts through `anyref`, and an unboxed `i31ref`.
            (local.set $any (local.get $p))
            (call $print (i64.extend_i32_u (ref.test (ref $list) (local.get $any))))
            (call $print (struct.get $point $y (ref.cast (ref $point) (local.get $any))))
            (call $print (i64.extend_i32_s (i31.get_s (ref.i31 (i32.const -5))))))"#,
        "34\n16\n0\n4\n-5\n",
    );
}

#[test]
fn gc_collects_garbage() {
    // A million linked cells, each dropped as soon as the next exists: some 40 MB of garbage,
    // which runs only if the collector reclaims it (the heap is capped by `--memory`).
    let wat = command(
        r#"(type $cell (struct (field i64) (field (ref null $cell))))
        (func (export "_start")
            (local $i i64) (local $last (ref null $cell)) (local $sum i64)
            (loop $more
                (local.set $last (struct.new $cell (local.get $i) (ref.null $cell)))
                (local.set $last (struct.new $cell (i64.const 1) (local.get $last)))
                (local.set $sum (i64.add (local.get $sum)
                    (struct.get $cell 0 (ref.as_non_null (struct.get $cell 1 (local.get $last))))))
                (local.set $i (i64.add (local.get $i) (i64.const 1)))
                (br_if $more (i64.lt_u (local.get $i) (i64.const 1000000))))
            (call $print (local.get $sum)))"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "gc-loop.wat", wat);
    Skiff::new()
        .run(&["run", "--memory", "16m", path_str(&path)])
        .success()
        .stdout_is("499999500000\n");
}

// --- What wasmtime 48's CLI leaves off: an error that names the feature.

#[test]
fn feature_left_off_is_named() {
    // Stack switching is off by default in `wasmtime run` 48 (`-W stack-switching` turns it on).
    let out = run_wat(
        "stack-switching.wat",
        r#"(module
            (type $f (func))
            (type $k (cont $f))
            (func $body)
            (elem declare func $body)
            (func (export "_start") (drop (cont.new $k (ref.func $body)))))"#,
    );
    out.code(125)
        .stderr_has("error: `stack-switching.wat` uses the WebAssembly stack switching proposal")
        .stderr_has("hint: ");
    // Wide arithmetic, likewise.
    let out = run_wat(
        "wide-arithmetic.wat",
        r#"(module (func (export "_start")
            (drop (drop (i64.add128 (i64.const 1) (i64.const 0) (i64.const 2) (i64.const 0))))))"#,
    );
    out.code(125)
        .stderr_has("uses the WebAssembly wide arithmetic proposal")
        .stderr_lacks("truncated");
    // The legacy (pre-exnref) form of exception handling, which older clang and zig emit by
    // default: the hint names the flag that makes them emit the standard form.
    let out = run_wat(
        "legacy-exceptions.wat",
        r#"(module
            (tag $e)
            (func (export "_start")
                try
                    throw $e
                catch $e
                end))"#,
    );
    out.code(125)
        .stderr_has("uses the WebAssembly legacy exceptions proposal")
        .stderr_has("-wasm-use-legacy-eh=false");
}

#[test]
fn async_component_runs_and_stackful_async_is_named() {
    // The component model's async ABI (callback form) is on, as in `wasmtime run` 48: WASI 0.3
    // components use it. `run` here is lifted async and returns through `task.return`.
    let lift = |canon: &str, export: &str| {
        format!(
            r#"(component
            (core module $m
                (import "" "task.return" (func $ret (param i32)))
                (func (export "run") (result i32) (call $ret (i32.const 0)) (i32.const 0))
                (func (export "stackful") (call $ret (i32.const 0)))
                (func (export "cb") (param i32 i32 i32) (result i32) (i32.const 0)))
            (type $r (result))
            (core func $tr (canon task.return (result $r)))
            (core instance $i (instantiate $m (with "" (instance (export "task.return" (func $tr))))))
            (func $run async (result $r) {canon})
            (instance $inst (export "run" (func $run)))
            (export "{export}" (instance $inst)))"#
        )
    };
    let callback = r#"(canon lift (core func $i "run") async (callback (core func $i "cb")))"#;
    run_wat("async.wat", &lift(callback, "wasi:cli/run@0.3.0")).success();
    // Named as WASI 0.2 but lifted async: loaded by the engine with concurrency all the same.
    run_wat("async-p2.wat", &lift(callback, "wasi:cli/run@0.2.0")).success();
    // Its stackful form is off in `wasmtime run`'s defaults: named, not called corrupt.
    run_wat(
        "stackful.wat",
        &lift(
            r#"(canon lift (core func $i "stackful") async)"#,
            "wasi:cli/run@0.3.0",
        ),
    )
    .code(125)
    .stderr_has(
        "error: `stackful.wat` uses the WebAssembly component model async stackful proposal",
    )
    .stderr_has("hint: Skiff runs the component model's async ABI as `wasmtime run` does");
}
