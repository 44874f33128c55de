//! Spin 1's modules made components, as Spin makes them when it loads one.
//!
//! Spin's Go SDK v2 and Spin 1's SDKs build a core module with wit-bindgen 0.2: it exports
//! `handle-http-request` (or `handle-redis-message`) and `canonical_abi_realloc`, and imports
//! Spin's platform under the old names (`spin-config::get-config`, `wasi-outbound-http::request`,
//! `key-value::open`, ...). Their canonical ABI is the component model's for these signatures
//! (the same flattening, return areas and layouts), so the module needs only the names the
//! component model gives the same functions in Spin's unversioned `fermyon:spin` package, and a
//! `component-type` section describing that world; wit-component then makes the component with
//! wasmtime's preview 1 adapter, calling the module's `_initialize` (TinyGo's runtime start) as
//! the component starts.

use std::borrow::Cow;

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{CustomSection, ExportSection, ImportSection, Module, RawSection};
use wasmparser::{Parser, Payload};

/// Spin 1's import modules and the interface of `fermyon:spin` each became.
const IMPORTS: &[(&str, &str)] = &[
    ("spin-config", "config"),
    ("wasi-outbound-http", "http"),
    ("key-value", "key-value"),
    ("sqlite", "sqlite"),
    ("outbound-redis", "redis"),
    ("outbound-pg", "postgres"),
    ("outbound-mysql", "mysql"),
    ("llm", "llm"),
];

/// Spin 1's trigger exports and the interface function each is.
const EXPORTS: &[(&str, &str, &str)] = &[
    ("handle-http-request", "inbound-http", "handle-request"),
    ("handle-redis-message", "inbound-redis", "handle-message"),
];

/// The unversioned package, with the world of a module made a component (`module`).
const SPIN_V1_WIT: &str = include_str!("../../../wit/spin/deps/fermyon-spin-v1/spin.wit");

/// Whether `bytes` is a core module exporting a Spin 1 trigger's function.
pub(crate) fn is_spin1_module(bytes: &[u8]) -> bool {
    crate::load::module_exports_any(bytes, |name| EXPORTS.iter().any(|(old, ..)| name == *old))
}

/// The module with the component model's names and the `component-type` section of the world it
/// imports and exports.
pub(crate) fn describe(module: &[u8]) -> Result<Vec<u8>, String> {
    let module = &*without_ctors_in_realloc(module).map_err(|e| e.to_string())?;
    let mut result = Module::new();
    let mut exported = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| e.to_string())?;
        match payload {
            Payload::ImportSection(reader) => {
                let mut imports = ImportSection::new();
                for import in reader.into_imports() {
                    let import = import.map_err(|e| e.to_string())?;
                    let (module, name) = import_name(import.module, import.name);
                    let ty = RoundtripReencoder
                        .entity_type(import.ty)
                        .map_err(|e| e.to_string())?;
                    imports.import(&module, &name, ty);
                }
                result.section(&imports);
            }
            Payload::ExportSection(reader) => {
                let mut exports = ExportSection::new();
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    let kind = RoundtripReencoder
                        .export_kind(export.kind)
                        .map_err(|e| e.to_string())?;
                    let name = match EXPORTS.iter().find(|(old, ..)| export.name == *old) {
                        Some((_, interface, function)) => {
                            exported.push(*interface);
                            Cow::Owned(format!("fermyon:spin/{interface}#{function}"))
                        }
                        None => Cow::Borrowed(export.name),
                    };
                    exports.export(&name, kind, export.index);
                }
                result.section(&exports);
            }
            payload => {
                if let Some((id, range)) = payload.as_section() {
                    result.section(&RawSection {
                        id,
                        data: &module[range],
                    });
                }
            }
        }
    }
    let world = world_type(&exported).map_err(|e| format!("{e:#}"))?;
    result.section(&CustomSection {
        name: Cow::Borrowed("component-type:spin1"),
        data: Cow::Owned(world),
    });
    Ok(result.finish())
}

/// The module with the constructors' call taken out of `canonical_abi_realloc`, where the module
/// was built as a command (`_start`: Spin 1's Rust and JavaScript SDKs). wasm-ld makes every
/// export of a command call `__wasm_call_ctors` first, and wasi-libc's constructors call WASI
/// (`environ_sizes_get`, `fd_prestat_get`), which the component model forbids while the host is
/// lowering a call's arguments through the realloc ("cannot leave component instance"). The
/// realloc needs no constructor (the allocator starts itself), and the trigger's export, called
/// next, still runs them. Recognised by its shape: the realloc's first instruction calls a
/// function of no parameters or results that the trigger's export also calls first (wasm-ld's
/// wrapper, or that wrapper inlined by wasm-opt); that call becomes `nop`s, in place.
fn without_ctors_in_realloc(module: &[u8]) -> Result<Cow<'_, [u8]>, wasmparser::BinaryReaderError> {
    use wasmparser::{Operator, TypeRef};
    let mut exports = (None, None);
    let mut imported_functions = 0;
    let mut function_types = Vec::new();
    let mut no_params_or_results = Vec::new();
    // The first instruction of each of the two bodies: the function it calls, and where it is.
    let mut first_calls = (None, None);
    let mut body = 0;
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    no_params_or_results.push(ty.params().is_empty() && ty.results().is_empty());
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let TypeRef::Func(ty) = import?.ty {
                        imported_functions += 1;
                        function_types.push(ty);
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for ty in reader {
                    function_types.push(ty?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.name == "canonical_abi_realloc" {
                        exports.0 = Some(export.index);
                    } else if EXPORTS.iter().any(|(old, ..)| export.name == *old) {
                        exports.1 = Some(export.index);
                    }
                }
            }
            Payload::CodeSectionEntry(code) => {
                let index = Some(imported_functions + body);
                body += 1;
                if index != exports.0 && index != exports.1 {
                    continue;
                }
                let mut ops = code.get_operators_reader()?;
                let start = ops.original_position();
                let Operator::Call { function_index } = ops.read()? else {
                    continue;
                };
                let ty = function_types.get(function_index as usize);
                if ty.is_none_or(|ty| no_params_or_results.get(*ty as usize) != Some(&true)) {
                    continue;
                }
                let call = (function_index, start..ops.original_position());
                if index == exports.0 {
                    first_calls.0 = Some(call);
                } else {
                    first_calls.1 = Some(call);
                }
            }
            _ => {}
        }
    }
    match first_calls {
        (Some((ctors, call)), Some((also, _))) if ctors == also => {
            let mut patched = module.to_vec();
            patched[call].fill(0x01);
            Ok(Cow::Owned(patched))
        }
        _ => Ok(Cow::Borrowed(module)),
    }
}

/// The component model's name of one of the module's imports: Spin 1's are `fermyon:spin`'s
/// (`wasi-outbound-http::request` is `http`'s `send-request`); others are left as they are.
fn import_name<'a>(module: &'a str, name: &'a str) -> (Cow<'a, str>, Cow<'a, str>) {
    let Some((_, interface)) = IMPORTS.iter().find(|(old, _)| *old == module) else {
        return (Cow::Borrowed(module), Cow::Borrowed(name));
    };
    let name = match (module, name) {
        ("wasi-outbound-http", "request") => "send-request",
        _ => name,
    };
    (
        Cow::Owned(format!("fermyon:spin/{interface}")),
        Cow::Borrowed(name),
    )
}

/// The encoded `module` world with only the trigger interfaces the module exports.
fn world_type(exported: &[&str]) -> anyhow::Result<Vec<u8>> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_source("fermyon-spin-v1.wit", SPIN_V1_WIT)?;
    let world = resolve.select_world(&[package], Some("module"))?;
    let interfaces = &resolve.interfaces;
    resolve.worlds[world].exports.retain(|key, _| match key {
        wit_parser::WorldKey::Interface(id) => interfaces[*id]
            .name
            .as_deref()
            .is_some_and(|name| exported.contains(&name)),
        wit_parser::WorldKey::Name(_) => false,
    });
    wit_component::metadata::encode(&resolve, world, wit_component::StringEncoding::UTF8, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Spin 1 module as wasm-ld builds a command's exports: each calls `$ctors` first.
    fn command(http_calls_ctors_first: bool) -> Vec<u8> {
        let http_first = if http_calls_ctors_first {
            "call $ctors"
        } else {
            "nop"
        };
        wat::parse_str(format!(
            r#"(module
                (import "spin-config" "get-config" (func (param i32 i32 i32)))
                (import "wasi_snapshot_preview1" "environ_sizes_get"
                    (func $environ (param i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func $ctors (drop (call $environ (i32.const 0) (i32.const 4))))
                (func $realloc (param i32 i32 i32 i32) (result i32) (i32.const 8))
                (func (export "canonical_abi_realloc") (param i32 i32 i32 i32) (result i32)
                    call $ctors
                    (call $realloc (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
                (func (export "handle-http-request")
                    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)
                    {http_first}
                    i32.const 0))"#
        ))
        .unwrap()
    }

    /// The body of function `index` (imports first), its code only.
    fn body(module: &[u8], index: usize) -> Vec<u8> {
        let mut imported = 0;
        let mut bodies = Vec::new();
        for payload in Parser::new(0).parse_all(module) {
            match payload.unwrap() {
                Payload::ImportSection(reader) => imported = reader.into_imports().count(),
                Payload::CodeSectionEntry(code) => bodies.push(code.as_bytes().to_vec()),
                _ => {}
            }
        }
        bodies.swap_remove(index - imported)
    }

    #[test]
    fn a_commands_realloc_no_longer_runs_the_constructors() {
        let module = command(true);
        let described = describe(&module).expect("described");
        // The realloc (function 4) starts with `nop`s where it called the constructors; the
        // trigger's export (5) still calls them.
        assert_eq!(body(&module, 4)[1], 0x10);
        assert_eq!(body(&described, 4)[1..3], [0x01, 0x01]);
        assert_eq!(body(&described, 5), body(&module, 5));
        assert!(is_spin1_module(&module));
        // Its imports and exports have the component model's names.
        let text = String::from_utf8_lossy(&described);
        assert!(text.contains("fermyon:spin/config"));
        assert!(text.contains("fermyon:spin/inbound-http#handle-request"));
    }

    #[test]
    fn a_realloc_whose_first_call_is_its_own_is_left_as_it_is() {
        let module = command(false);
        let described = describe(&module).expect("described");
        assert_eq!(body(&described, 4), body(&module, 4));
    }

    #[test]
    fn a_cut_or_corrupt_module_is_an_error_not_a_panic() {
        let module = command(true);
        for end in (9..module.len()).step_by(7) {
            let _ = describe(&module[..end]);
        }
        let mut flipped = module.clone();
        for at in (9..flipped.len()).step_by(5) {
            flipped[at] ^= 0xff;
            let _ = describe(&flipped);
            flipped[at] ^= 0xff;
        }
    }
}
