//! `skiff run --invoke`: one exported function called instead of the entry point, with its
//! results printed, as `wasmtime run --invoke` does (a core module's arguments after the file,
//! a component's call in WAVE). What the user wrote is checked before the app starts.

use skiff_test_programs_artifacts::P2_CLI_HELLO;

use crate::support::{Outcome, Skiff, path_str, write_file};

const MATH: &str = r#"(module
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "half_and_minus_three") (param f64) (result f64 i64)
        local.get 0 f64.const 0.5 f64.mul i64.const -3)
    (func (export "boom") unreachable)
    (func (export "_start") unreachable))"#;

/// A component of no world (a library): `add` at its top level, `sum` in the interface
/// `my:math/ops`, and `echo`, which takes and returns a string (through its memory).
const LIBRARY: &str = r#"(component
    (core module $m
        (memory (export "mem") 1)
        (global $next (mut i32) (i32.const 1024))
        (func (export "realloc") (param i32 i32 i32 i32) (result i32)
            (local $at i32)
            (local.set $at (global.get $next))
            (global.set $next (i32.add (global.get $next) (local.get 3)))
            (local.get $at))
        (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
        (func (export "echo") (param i32 i32) (result i32)
            (i32.store (i32.const 0) (local.get 0))
            (i32.store (i32.const 4) (local.get 1))
            i32.const 0))
    (core instance $i (instantiate $m))
    (func $add (param "a" s32) (param "b" s32) (result s32) (canon lift (core func $i "add")))
    (func $echo (param "s" string) (result string)
        (canon lift (core func $i "echo") (memory (core memory $i "mem"))
            (realloc (core func $i "realloc"))))
    (export "add" (func $add))
    (export "echo" (func $echo))
    (instance $ops (export "sum" (func $add)))
    (export "my:math/ops" (instance $ops)))"#;

fn invoke(file: &str, text: &str, args: &[&str]) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), file, text);
    let mut all = vec!["run", "--invoke"];
    all.extend(args.first());
    all.push(path_str(&path));
    all.extend(&args[1..]);
    Skiff::new().run(&all)
}

#[test]
fn a_modules_function_gets_the_arguments_after_the_file_and_its_results_are_printed() {
    // `_start` traps: it must not run.
    invoke("math.wat", MATH, &["add", "40", "2"])
        .success()
        .stdout_is("42\n");
    invoke("math.wat", MATH, &["add", "0x10", "-3"])
        .success()
        .stdout_is("13\n");
    invoke("math.wat", MATH, &["half_and_minus_three", "3"])
        .success()
        .stdout_is("1.5\n-3\n");
}

#[test]
fn a_wrong_invocation_of_a_module_names_what_fits_before_it_runs() {
    invoke("math.wat", MATH, &["nope"])
        .code(125)
        .stderr_has("exports no function named `nope`; it exports `add`, `half_and_minus_three`, `boom`, `_start`")
        .stderr_has("hint: `--invoke NAME`");
    invoke("math.wat", MATH, &["add", "1"])
        .code(125)
        .stderr_has("`add` takes 2 arguments (i32, i32); 1 given after the file");
    invoke("math.wat", MATH, &["add", "x", "1"])
        .code(125)
        .stderr_has("argument 1 of `add` must be an i32, not `x`");
    // A trap in the function is the app's trap, as any other.
    invoke("math.wat", MATH, &["boom"])
        .code(134)
        .stderr_has("`unreachable` instruction executed");
}

#[test]
fn a_library_components_functions_are_called_in_wave() {
    invoke("lib.wat", LIBRARY, &["add(1, -2)"])
        .success()
        .stdout_is("-1\n");
    invoke("lib.wat", LIBRARY, &["my:math/ops.sum(3, 4)"])
        .success()
        .stdout_is("7\n");
    // A bare name is looked up in the exported interfaces too.
    invoke("lib.wat", LIBRARY, &["sum(5, 6)"])
        .success()
        .stdout_is("11\n");
    invoke("lib.wat", LIBRARY, &[r#"echo("héllo \"wave\"")"#])
        .success()
        .stdout_is("\"héllo \\\"wave\\\"\"\n");
}

#[test]
fn a_wrong_call_of_a_component_names_its_functions_and_a_library_needs_one() {
    invoke("lib.wat", LIBRARY, &["nope()"])
        .code(125)
        .stderr_has(
            "exports no function named `nope`; it exports `add`, `echo`, `my:math/ops.sum`",
        );
    invoke("lib.wat", LIBRARY, &["add(1)"])
        .code(125)
        .stderr_has("the arguments of `add(1)` do not fit");
    invoke("lib.wat", LIBRARY, &["add(1, "])
        .code(125)
        .stderr_has("is not a call in WAVE");
    // Without --invoke a library has no entry point: the error says what it exports.
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "lib.wat", LIBRARY);
    Skiff::new()
        .run(&["run", path_str(&path)])
        .code(125)
        .stderr_has("neither a command nor an HTTP handler")
        .stderr_has("`my:math/ops`");
}

#[test]
fn a_commands_run_function_can_be_invoked_by_its_interface() {
    Skiff::new()
        .run(&["run", "--invoke", "wasi:cli/run.run@0.2.0()", P2_CLI_HELLO])
        .success()
        .stdout_is("Hello, world!\nok\n");
}

#[test]
fn invoke_is_refused_for_the_daemon() {
    Skiff::new()
        .run(&["run", "-d", "--invoke", "add", "math.wasm"])
        .code(125)
        .stderr_has("`--invoke` calls a function once, in the foreground");
}
