//! `skiff run --invoke`: calling one exported function instead of the program's entry point, as
//! `wasmtime run --invoke` does. A core module's function takes its arguments from the app's
//! arguments (numbers, one per parameter) and its results are printed one per line; a
//! component's call is written in WAVE (`add(1, 2)`, `greet("world")`) and its results printed
//! in WAVE. Everything the user wrote is checked against the function's type before the app is
//! instantiated, so a typo is an error that names the function's exports, never a trap.

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::wasm_wave::wasm::{DisplayFuncResults, WasmFunc};
use wasmtime::component::{Component, ComponentExportIndex};
use wasmtime::{Engine, ExternType, Module, Val, ValType};

/// Why a call cannot be made: what the user wrote does not fit the program.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvokeError(String);

impl InvokeError {
    pub(crate) fn new(message: String) -> Self {
        InvokeError(message)
    }
}

/// A core module's call, checked against the export's type.
pub(crate) struct CoreCall {
    pub(crate) name: String,
    pub(crate) params: Vec<Val>,
    pub(crate) results: usize,
}

impl CoreCall {
    /// `args` are the app's arguments after `argv[0]`; as with `wasmtime run`, those beyond
    /// the function's parameters are left to the program's `argv` alone.
    pub(crate) fn new(module: &Module, name: &str, args: &[String]) -> Result<Self, InvokeError> {
        let Some(ExternType::Func(ty)) = module.get_export(name) else {
            let funcs: Vec<_> = module
                .exports()
                .filter(|e| matches!(e.ty(), ExternType::Func(_)))
                .map(|e| format!("`{}`", e.name()))
                .collect();
            return Err(InvokeError(format!(
                "the module exports no function named `{name}`; it exports {}",
                list_or_nothing(&funcs)
            )));
        };
        let types: Vec<ValType> = ty.params().collect();
        if args.len() < types.len() {
            let wanted: Vec<_> = types.iter().map(ToString::to_string).collect();
            return Err(InvokeError(format!(
                "`{name}` takes {} argument{} ({}); {} given after the file",
                types.len(),
                if types.len() == 1 { "" } else { "s" },
                wanted.join(", "),
                args.len()
            )));
        }
        let params = types
            .iter()
            .zip(args)
            .enumerate()
            .map(|(i, (ty, arg))| {
                parse_core(ty, arg).ok_or_else(|| {
                    InvokeError(format!(
                        "argument {} of `{name}` must be an {ty}, not `{arg}`",
                        i + 1
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(CoreCall {
            name: name.to_string(),
            params,
            results: ty.results().len(),
        })
    }
}

/// A number as `wasmtime run --invoke` reads one: decimal, or hexadecimal after `0x` for
/// integers.
fn parse_core(ty: &ValType, arg: &str) -> Option<Val> {
    let hex = arg.strip_prefix("0x").or_else(|| arg.strip_prefix("0X"));
    Some(match ty {
        ValType::I32 => Val::I32(match hex {
            Some(digits) => i32::from_str_radix(digits, 16).ok()?,
            None => arg.parse().ok()?,
        }),
        ValType::I64 => Val::I64(match hex {
            Some(digits) => i64::from_str_radix(digits, 16).ok()?,
            None => arg.parse().ok()?,
        }),
        ValType::F32 => Val::F32(arg.parse::<f32>().ok()?.to_bits()),
        ValType::F64 => Val::F64(arg.parse::<f64>().ok()?.to_bits()),
        ValType::V128 | ValType::Ref(_) => return None,
    })
}

/// A core function's results, one per line, as `wasmtime run --invoke` prints them.
pub(crate) fn core_results(results: &[Val]) -> String {
    let mut out = String::new();
    for value in results {
        let line = match value {
            Val::I32(i) => i.to_string(),
            Val::I64(i) => i.to_string(),
            Val::F32(bits) => f32::from_bits(*bits).to_string(),
            Val::F64(bits) => f64::from_bits(*bits).to_string(),
            Val::V128(v) => v.as_u128().to_string(),
            Val::FuncRef(None) => "<null funcref>".into(),
            Val::FuncRef(Some(_)) => "<funcref>".into(),
            Val::ExternRef(None) => "<null externref>".into(),
            Val::ExternRef(Some(_)) => "<externref>".into(),
            Val::AnyRef(None) => "<null anyref>".into(),
            Val::AnyRef(Some(_)) => "<anyref>".into(),
            Val::ExnRef(None) => "<null exnref>".into(),
            Val::ExnRef(Some(_)) => "<exnref>".into(),
            Val::ContRef(None) => "<null contref>".into(),
            Val::ContRef(Some(_)) => "<contref>".into(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A component's call, checked against the export's type.
pub(crate) struct ComponentCall {
    pub(crate) export: ComponentExportIndex,
    pub(crate) params: Vec<wasmtime::component::Val>,
    pub(crate) results: usize,
}

impl ComponentCall {
    /// `call` is WAVE: `name(arg, ...)`. The name is a function the component exports at its
    /// top level; `PACKAGE/INTERFACE.name[@VERSION]` (e.g. `my:math/ops.add`) for one of an
    /// exported interface; or a bare name that exactly one exported interface has.
    pub(crate) fn new(
        engine: &Engine,
        component: &Component,
        call: &str,
    ) -> Result<Self, InvokeError> {
        let parsed = UntypedFuncCall::parse(call).map_err(|e| {
            InvokeError(format!(
                "`{call}` is not a call in WAVE ({e}); write it as `name(arg, ...)`, e.g. \
                 `add(1, 2)` or `greet(\"world\")`"
            ))
        })?;
        let (export, func) = find_func(engine, component, parsed.name())?;
        // The trait's parameter types (the inherent `params` pairs them with names).
        let types: Vec<_> = WasmFunc::params(&func).collect();
        let params = parsed
            .to_wasm_params(&types)
            .map_err(|e| InvokeError(format!("the arguments of `{call}` do not fit: {e}")))?;
        Ok(ComponentCall {
            export,
            params,
            results: func.results().len(),
        })
    }
}

/// A component's results in WAVE, as `wasmtime run --invoke` prints them.
pub(crate) fn component_results(results: &[wasmtime::component::Val]) -> String {
    format!("{}\n", DisplayFuncResults(results))
}

fn find_func(
    engine: &Engine,
    component: &Component,
    name: &str,
) -> Result<(ComponentExportIndex, ComponentFunc), InvokeError> {
    let lookup = |interface: Option<&str>, func: &str| {
        let instance = match interface {
            Some(interface) => Some(component.get_export_index(None, interface)?),
            None => None,
        };
        match component.get_export(instance.as_ref(), func) {
            Some((ComponentItem::ComponentFunc(ty), index)) => Some((index, ty)),
            _ => None,
        }
    };
    let funcs = exported_funcs(engine, component);
    let not_found = |what: String| {
        let names: Vec<_> = funcs
            .iter()
            .map(|(interface, func)| match interface {
                Some(interface) => format!("`{}`", wave_name(interface, func)),
                None => format!("`{func}`"),
            })
            .collect();
        InvokeError(format!(
            "the component exports no function {what}; it exports {}",
            list_or_nothing(&names)
        ))
    };
    if let Some((interface, func)) = interface_and_func(name) {
        return lookup(Some(&interface), func)
            .ok_or_else(|| not_found(format!("`{func}` in an interface `{interface}`")));
    }
    if let Some(found) = lookup(None, name) {
        return Ok(found);
    }
    // A bare name: the one exported interface that has it.
    let interfaces: Vec<&str> = funcs
        .iter()
        .filter(|(_, func)| func == name)
        .filter_map(|(interface, _)| interface.as_deref())
        .collect();
    match interfaces.as_slice() {
        [interface] => {
            lookup(Some(interface), name).ok_or_else(|| not_found(format!("named `{name}`")))
        }
        [] => Err(not_found(format!("named `{name}`"))),
        several => Err(InvokeError(format!(
            "`{name}` is exported by several interfaces ({}); name one, e.g. `{}`",
            several.join(", "),
            wave_name(several[0], name)
        ))),
    }
}

/// WAVE's `PACKAGE/INTERFACE.func[@VERSION]` as the interface's export name
/// (`PACKAGE/INTERFACE[@VERSION]`) and the function's; `None` for a bare name.
fn interface_and_func(name: &str) -> Option<(String, &str)> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (interface, func) = path.rsplit_once('.')?;
    let interface = match version {
        Some(version) => format!("{interface}@{version}"),
        None => interface.to_string(),
    };
    Some((interface, func))
}

/// How WAVE names function `func` of the interface exported as `interface`.
fn wave_name(interface: &str, func: &str) -> String {
    match interface.split_once('@') {
        Some((path, version)) => format!("{path}.{func}@{version}"),
        None => format!("{interface}.{func}"),
    }
}

/// Every function the component exports: at its top level (no interface) or in an exported
/// interface.
fn exported_funcs(engine: &Engine, component: &Component) -> Vec<(Option<String>, String)> {
    let mut funcs = Vec::new();
    for (export, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(_) => funcs.push((None, export.to_string())),
            ComponentItem::ComponentInstance(instance) => {
                for (func, item) in instance.exports(engine) {
                    if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                        funcs.push((Some(export.to_string()), func.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    funcs
}

fn list_or_nothing(names: &[String]) -> String {
    if names.is_empty() {
        "no functions".to_string()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_wasmtime_reads_them() {
        assert_eq!(parse_core(&ValType::I32, "-7").unwrap().unwrap_i32(), -7);
        assert_eq!(parse_core(&ValType::I32, "0x10").unwrap().unwrap_i32(), 16);
        assert_eq!(parse_core(&ValType::I64, "0XfF").unwrap().unwrap_i64(), 255);
        assert_eq!(parse_core(&ValType::F64, "2.5").unwrap().unwrap_f64(), 2.5);
        assert!(parse_core(&ValType::I32, "1.5").is_none());
        assert!(parse_core(&ValType::I32, "4294967296").is_none());
        assert!(parse_core(&ValType::V128, "1").is_none());
    }

    #[test]
    fn wave_names_an_interface_s_function_as_its_exports_do() {
        assert_eq!(
            interface_and_func("my:math/ops.add"),
            Some(("my:math/ops".to_string(), "add"))
        );
        assert_eq!(
            interface_and_func("wasi:cli/run.run@0.2.0"),
            Some(("wasi:cli/run@0.2.0".to_string(), "run"))
        );
        assert_eq!(interface_and_func("add"), None);
        assert_eq!(
            wave_name("wasi:cli/run@0.2.0", "run"),
            "wasi:cli/run.run@0.2.0"
        );
        assert_eq!(wave_name("ops", "add"), "ops.add");
    }

    #[test]
    fn results_print_one_per_line() {
        let out = core_results(&[Val::I32(-1), Val::F32(1.5f32.to_bits()), Val::I64(7)]);
        assert_eq!(out, "-1\n1.5\n7\n");
    }
}
