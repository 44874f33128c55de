//! `skiff build` of a Spin app: `spin.toml` (Spin's manifest, version 2; a version 1 manifest is
//! read as Spin reads it, converted to version 2 first) + each component's Wasm
//! and files -> an image laid out as `spin registry push` lays it out (a Wasm layer per component,
//! a data layer per file, the locked app as a layer of its own), which `skiff run`, `serve`,
//! `run -d`, `push` and the shim read as any Spin image. Each component's `build.command` runs
//! first, as `spin build` runs it. Reproducible, as `skiff build` of a `skiff.toml`.
//!
//! What Skiff cannot honour is refused, naming it: a component from a URL or a registry, a
//! component's `dependencies`, a trigger whose component is written inline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_client::manifest::{OciDescriptor, OciImageManifest};
use serde::Deserialize;
use serde_json::json;

use crate::builder::{BuildError, Built, run_build_command, source_date};
use crate::media;
use crate::store::{Store, digest_of};

/// Whether `path` names a Spin manifest (`spin.toml`, or any `*.toml` with Spin's version key).
pub fn is_spin_manifest(path: &Path) -> bool {
    if path.extension().is_none_or(|e| e != "toml") {
        return false;
    }
    if path.file_name().is_some_and(|n| n == "spin.toml") {
        return true;
    }
    std::fs::read_to_string(path).is_ok_and(|text| {
        text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("spin_manifest_version") || l.starts_with("spin_version")
        })
    })
}

#[derive(Deserialize)]
struct SpinManifest {
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, Component>,
}

#[derive(Deserialize)]
struct Application {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// Each trigger type's settings for the whole app (`[application.trigger.redis] address`).
    #[serde(default)]
    trigger: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
struct Variable {
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize)]
struct Component {
    source: toml::Value,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<BuildConfig>,
    #[serde(default)]
    dependencies: Option<toml::Table>,
}

#[derive(Deserialize)]
struct BuildConfig {
    command: toml::Value,
    #[serde(default)]
    workdir: Option<String>,
}

/// Builds the Spin app of `manifest_path` and names the image `name` (else `NAME:VERSION`); with
/// `run_builds`, each component's build command first (`spin build`; `spin up` runs the Wasm it
/// finds).
pub fn build_spin(
    store: &Store,
    manifest_path: &Path,
    name: Option<&str>,
    run_builds: bool,
) -> Result<Built, BuildError> {
    let bad = |reason: String| BuildError::Spin {
        path: manifest_path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(manifest_path).map_err(|source| BuildError::Wasm {
        path: manifest_path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let version_given = table
        .get("spin_manifest_version")
        .or_else(|| table.get("spin_version"))
        .cloned()
        .unwrap_or(toml::Value::Integer(2));
    let table = match (version_given.as_integer(), version_given.as_str()) {
        (Some(2), _) => table,
        (_, Some("1")) => v1_to_v2(table).map_err(bad)?,
        _ => {
            let version_given = version_given.as_integer().map_or_else(
                || format!("{:?}", version_given.as_str().unwrap_or("?")),
                |v| v.to_string(),
            );
            return Err(bad(format!(
                "`spin_manifest_version = {version_given}`: Skiff reads versions 1 and 2 \
                 (`\"1\"` of Spin 1, `2` of Spin 2 and 3)"
            )));
        }
    };
    let manifest = SpinManifest::deserialize(table).map_err(|e| bad(e.to_string()))?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let app = &manifest.application;
    let version = app.version.clone().unwrap_or_else(|| "latest".into());

    // Triggers: HTTP routes, each naming its component by id.
    let mut triggers = Vec::new();
    for (kind, entries) in &manifest.trigger {
        for (i, entry) in entries.iter().enumerate() {
            let component = match entry.get("component") {
                Some(toml::Value::String(id)) => id.clone(),
                Some(_) => {
                    return Err(bad(format!(
                        "[[trigger.{kind}]] {}: a component written inline: give it a \
                         `[component.ID]` table and name it (`component = \"ID\"`)",
                        i + 1
                    )));
                }
                None => {
                    return Err(bad(format!(
                        "[[trigger.{kind}]] {} has no `component`",
                        i + 1
                    )));
                }
            };
            if !manifest.component.contains_key(&component) {
                return Err(bad(format!(
                    "[[trigger.{kind}]] names the component `{component}`, which has no \
                     `[component.{component}]`"
                )));
            }
            let mut config = serde_json::Map::new();
            config.insert("component".into(), json!(component));
            for (key, value) in entry
                .iter()
                .filter(|(k, _)| *k != "component" && *k != "id")
            {
                let value = serde_json::to_value(value).map_err(|e| bad(e.to_string()))?;
                config.insert(key.clone(), value);
            }
            let id = match entry.get("id") {
                Some(toml::Value::String(id)) => id.clone(),
                _ => format!("{kind}-{component}"),
            };
            triggers.push(json!({"id": id, "trigger_type": kind, "trigger_config": config}));
        }
    }

    // Components: each one's build, Wasm and files.
    let mut blobs: BTreeMap<String, (&'static str, Vec<u8>)> = BTreeMap::new();
    let mut wasm_layers = Vec::new();
    let mut data_layers = Vec::new();
    let mut components = Vec::new();
    for (id, component) in &manifest.component {
        if component
            .dependencies
            .as_ref()
            .is_some_and(|d| !d.is_empty())
        {
            return Err(bad(format!(
                "component `{id}` has `dependencies`: compose them into it first (`wac plug`), \
                 or publish the app with `spin registry push`, which composes them"
            )));
        }
        if let Some(build) = component.build.as_ref().filter(|_| run_builds) {
            let commands = match &build.command {
                toml::Value::String(one) => vec![one.clone()],
                toml::Value::Array(many) => many
                    .iter()
                    .map(|c| c.as_str().map(str::to_string))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad(format!("component `{id}`: `build.command` is not text")))?,
                _ => {
                    return Err(bad(format!(
                        "component `{id}`: `build.command` is not text"
                    )));
                }
            };
            let workdir = match &build.workdir {
                Some(workdir) => dir.join(workdir),
                None => dir.to_path_buf(),
            };
            for command in commands {
                run_build_command(&command, &workdir)?;
            }
        }
        let source = match &component.source {
            toml::Value::String(path) => dir.join(path),
            _ => {
                return Err(bad(format!(
                    "component `{id}`'s `source` is a URL or a registry package: download it and \
                     give its path (`source = \"FILE.wasm\"`)"
                )));
            }
        };
        let wasm = std::fs::read(&source).map_err(|e| BuildError::Wasm {
            path: source.clone(),
            source: e,
        })?;
        if !wasm.starts_with(b"\0asm") {
            return Err(BuildError::NotWasm { path: source });
        }
        let wasm_digest = digest_of(&wasm);
        if !blobs.contains_key(&wasm_digest) {
            wasm_layers.push(wasm_digest.clone());
            blobs.insert(wasm_digest.clone(), (media::SPIN_WASM_LAYER, wasm));
        }
        let mut files = Vec::new();
        for (path, file) in component_files(dir, id, component).map_err(bad)? {
            let bytes = std::fs::read(&file).map_err(|source| BuildError::File {
                path: file.clone(),
                source,
            })?;
            let digest = digest_of(&bytes);
            if !blobs.contains_key(&digest) {
                data_layers.push(digest.clone());
                blobs.insert(digest.clone(), (media::SPIN_DATA_LAYER, bytes));
            }
            files.push(json!({"digest": digest, "path": path}));
        }
        components.push(json!({
            "id": id,
            "source": {"content_type": "application/wasm", "digest": wasm_digest},
            "env": component.environment,
            "files": files,
            "config": component.variables,
            "metadata": {
                "allowed_outbound_hosts": component.allowed_outbound_hosts,
                "key_value_stores": component.key_value_stores,
                "sqlite_databases": component.sqlite_databases,
            },
        }));
    }
    if components.is_empty() {
        return Err(bad("it has no `[component.ID]`".into()));
    }
    let variables: BTreeMap<&String, serde_json::Value> = manifest
        .variables
        .iter()
        .map(|(name, v)| {
            let mut variable = serde_json::Map::new();
            if let Some(default) = &v.default {
                variable.insert("default".into(), json!(default));
            }
            if v.required {
                variable.insert("required".into(), json!(true));
            }
            if v.secret {
                variable.insert("secret".into(), json!(true));
            }
            (name, serde_json::Value::Object(variable))
        })
        .collect();
    let mut metadata =
        json!({"name": app.name, "version": version, "description": app.description});
    if !app.trigger.is_empty() {
        metadata["triggers"] = json!(app.trigger);
    }
    let locked = json!({
        "spin_lock_version": 1,
        "metadata": metadata,
        "variables": variables,
        "triggers": triggers,
        "components": components,
    });
    let locked = serde_json::to_vec(&locked).expect("the locked app serializes");

    let config = serde_json::to_vec(&json!({
        "architecture": "wasm",
        "os": "wasip1",
        "created": source_date(),
        "config": {},
    }))
    .expect("the config serializes");
    let descriptor = |media_type: &str, bytes: &[u8]| OciDescriptor {
        media_type: media_type.to_string(),
        digest: digest_of(bytes),
        size: bytes.len() as i64,
        ..Default::default()
    };
    let layers: Vec<OciDescriptor> = wasm_layers
        .iter()
        .chain(&data_layers)
        .map(|digest| {
            let (media_type, bytes) = &blobs[digest];
            descriptor(media_type, bytes)
        })
        .chain(std::iter::once(descriptor(media::SPIN_APP, &locked)))
        .collect();
    let manifest_json = serde_json::to_vec(&OciImageManifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.to_string()),
        config: descriptor(media::OCI_IMAGE_CONFIG, &config),
        layers,
        annotations: Some(BTreeMap::from([
            (
                "org.opencontainers.image.title".to_string(),
                app.name.clone(),
            ),
            (
                "org.opencontainers.image.version".to_string(),
                version.clone(),
            ),
        ])),
        ..Default::default()
    })
    .expect("the manifest serializes");

    let pin = store.pin()?;
    let mut txn = pin.transaction();
    for (_, bytes) in blobs.values() {
        txn.put(bytes)?;
    }
    txn.put(&locked)?;
    txn.put(&config)?;
    let digest = txn.put(&manifest_json)?;
    txn.commit();
    let name = name.map_or_else(|| format!("{}:{version}", app.name), str::to_string);
    store.set_ref(&crate::normalize_name(&name), &digest)?;
    let size = manifest_json.len()
        + config.len()
        + locked.len()
        + blobs.values().map(|(_, b)| b.len()).sum::<usize>();
    Ok(Built {
        digest,
        size: size as u64,
        app: skiff_manifest::AppConfig {
            name: app.name.clone(),
            version,
            ..Default::default()
        },
    })
}

/// Spin's manifest version 1 as version 2, as Spin converts it: the app's `name`, `version`,
/// `description` and one `trigger` (its type and global settings) become `[application]`'s;
/// each `[[component]]` a `[component.ID]` (its id in kebab case, its `config` its
/// `variables`) and a trigger of the app's type with the component's `[component.trigger]`
/// settings; `allowed_http_hosts` (HTTP hosts whatever their scheme, `insecure:allow-all` any)
/// become `allowed_outbound_hosts` of `http` and `https`.
fn v1_to_v2(v1: toml::Table) -> Result<toml::Table, String> {
    use toml::Value;
    let text =
        |table: &toml::Table, key: &str| table.get(key).and_then(Value::as_str).map(str::to_string);
    let name = text(&v1, "name").ok_or("a version 1 manifest needs the app's `name`")?;
    let Some(Value::Table(trigger)) = v1.get("trigger") else {
        return Err("a version 1 manifest needs the app's `trigger = { type = \"http\" }`".into());
    };
    let mut trigger = trigger.clone();
    let kind = match trigger.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return Err("the app's `trigger` has no `type`".into()),
    };
    let mut application = toml::Table::new();
    application.insert("name".into(), Value::String(name));
    for key in ["version", "description"] {
        if let Some(value) = text(&v1, key).filter(|v| !v.is_empty()) {
            application.insert(key.into(), Value::String(value));
        }
    }
    if !trigger.is_empty() {
        let global = toml::Table::from_iter([(kind.clone(), Value::Table(trigger))]);
        application.insert("trigger".into(), Value::Table(global));
    }
    let mut components = toml::Table::new();
    let mut triggers = Vec::new();
    let listed = match v1.get("component") {
        Some(Value::Array(listed)) => listed.as_slice(),
        None => &[],
        Some(_) => return Err("`component` is not a list of `[[component]]` tables".into()),
    };
    for component in listed {
        let Value::Table(component) = component else {
            return Err("a `[[component]]` is not a table".into());
        };
        let mut component = component.clone();
        let id = match component.remove("id") {
            Some(Value::String(id)) => id.replace('_', "-").to_lowercase(),
            _ => return Err("a `[[component]]` has no `id`".into()),
        };
        let mut trigger = match component.remove("trigger") {
            Some(Value::Table(trigger)) => trigger,
            _ => return Err(format!("component `{id}` has no `[component.trigger]`")),
        };
        trigger.insert("component".into(), Value::String(id.clone()));
        triggers.push(Value::Table(trigger));
        if let Some(config) = component.remove("config") {
            component.insert("variables".into(), config);
        }
        if let Some(Value::Array(http_hosts)) = component.remove("allowed_http_hosts") {
            let mut hosts = match component.remove("allowed_outbound_hosts") {
                Some(Value::Array(hosts)) => hosts,
                _ => Vec::new(),
            };
            for host in http_hosts.iter().filter_map(Value::as_str) {
                hosts.extend(
                    crate::spin::allowed_http_host(host)
                        .into_iter()
                        .map(Value::String),
                );
            }
            component.insert("allowed_outbound_hosts".into(), Value::Array(hosts));
        }
        components.insert(id, Value::Table(component));
    }
    let mut v2 = toml::Table::new();
    v2.insert("spin_manifest_version".into(), Value::Integer(2));
    v2.insert("application".into(), Value::Table(application));
    if let Some(variables) = v1.get("variables") {
        v2.insert("variables".into(), variables.clone());
    }
    let triggers = toml::Table::from_iter([(kind, Value::Array(triggers))]);
    v2.insert("trigger".into(), Value::Table(triggers));
    v2.insert("component".into(), Value::Table(components));
    Ok(v2)
}

/// A component's files: each one's path in the guest (relative to its root) and on the host,
/// sorted, from Spin's `files` (glob patterns relative to the app's directory, placed at the
/// same relative path, or `{ source = DIR_OR_FILE, destination = "/PATH" }`), less
/// `exclude_files` and what `skiff serve spin.toml` keeps in `.spin/skiff/` (the app's stores:
/// another run's data, never part of an image).
fn component_files(
    dir: &Path,
    id: &str,
    component: &Component,
) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut files = BTreeMap::new();
    for entry in &component.files {
        match entry {
            toml::Value::String(pattern) => {
                let matches = glob::glob(&dir.join(pattern).to_string_lossy())
                    .map_err(|e| format!("component `{id}`: the file pattern `{pattern}`: {e}"))?;
                for file in matches {
                    let file = file.map_err(|e| format!("component `{id}`: {e}"))?;
                    if file.is_file() {
                        let relative = relative_path(dir, &file, id)?;
                        files.insert(relative, file);
                    }
                }
            }
            toml::Value::Table(mapping) => {
                let (Some(source), Some(destination)) = (
                    mapping.get("source").and_then(toml::Value::as_str),
                    mapping.get("destination").and_then(toml::Value::as_str),
                ) else {
                    return Err(format!(
                        "component `{id}`: a file mapping needs `source` and `destination`"
                    ));
                };
                let mut found = BTreeMap::new();
                let dest = destination.trim_matches('/');
                crate::builder::collect(&dir.join(source), dest, &mut found)
                    .map_err(|e| format!("component `{id}`: `{source}`: {e}"))?;
                for (path, file) in found {
                    if let Some(file) = file {
                        files.insert(path, file);
                    }
                }
            }
            _ => {
                return Err(format!(
                    "component `{id}`: a `files` entry is not a pattern or a mapping"
                ));
            }
        }
    }
    for pattern in &component.exclude_files {
        let pattern = glob::Pattern::new(pattern)
            .map_err(|e| format!("component `{id}`: the exclude pattern `{pattern}`: {e}"))?;
        files.retain(|path, _| !pattern.matches(path));
    }
    let stores = dir.join(".spin").join("skiff");
    files.retain(|_, file| !file.starts_with(&stores));
    for path in files.keys() {
        if crate::files::plain_relative(Path::new(path)).is_none() {
            return Err(format!(
                "component `{id}`: the file `{path}` is outside the app"
            ));
        }
    }
    Ok(files)
}

/// `file`'s path below `dir`, `/`-separated.
fn relative_path(dir: &Path, file: &Path, id: &str) -> Result<String, String> {
    let relative = file.strip_prefix(dir).map_err(|_| {
        format!(
            "component `{id}`: `{}` is outside the app's directory",
            file.display()
        )
    })?;
    Ok(relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn converted(v1: &str) -> SpinManifest {
        let v2 = v1_to_v2(toml::from_str(v1).unwrap()).unwrap();
        SpinManifest::deserialize(v2).unwrap()
    }

    #[test]
    fn a_version_1_manifest_is_read_as_spin_converts_it() {
        let manifest = converted(
            r#"spin_version = "1"
name = "legacy"
version = "1.2.0"
trigger = { type = "http", base = "/" }
[variables]
token = { required = true, secret = true }
[[component]]
id = "My_Handler"
source = "handler.wasm"
allowed_http_hosts = ["https://api.example.com", "cache.example.org:8080", "self"]
allowed_outbound_hosts = ["redis://db.example.com:6379"]
key_value_stores = ["default"]
[component.config]
token = "{{ token }}"
[component.trigger]
route = "/api/..."
executor = { type = "spin" }
"#,
        );
        assert_eq!(manifest.application.name, "legacy");
        assert_eq!(manifest.application.version.as_deref(), Some("1.2.0"));
        assert_eq!(
            manifest.application.trigger["http"]["base"].as_str(),
            Some("/")
        );
        assert!(manifest.variables["token"].required && manifest.variables["token"].secret);
        // Its id in kebab case, as Spin fixes it.
        let component = &manifest.component["my-handler"];
        assert_eq!(component.variables["token"], "{{ token }}");
        assert_eq!(component.key_value_stores, ["default"]);
        assert_eq!(
            component.allowed_outbound_hosts,
            [
                "redis://db.example.com:6379",
                "http://api.example.com",
                "https://api.example.com",
                "http://cache.example.org:8080",
                "https://cache.example.org:8080",
                "http://self",
            ]
        );
        let trigger = &manifest.trigger["http"][0];
        assert_eq!(trigger["component"].as_str(), Some("my-handler"));
        assert_eq!(trigger["route"].as_str(), Some("/api/..."));
        assert_eq!(trigger["executor"]["type"].as_str(), Some("spin"));
    }

    #[test]
    fn a_version_1_redis_app_keeps_its_address_and_channels() {
        let manifest = converted(
            r#"spin_manifest_version = "1"
name = "listener"
trigger = { type = "redis", address = "redis://localhost:6379" }
[[component]]
id = "echo"
source = "echo.wasm"
[component.trigger]
channel = "messages"
"#,
        );
        assert_eq!(
            manifest.application.trigger["redis"]["address"].as_str(),
            Some("redis://localhost:6379")
        );
        assert_eq!(manifest.application.version, None);
        let trigger = &manifest.trigger["redis"][0];
        assert_eq!(trigger["channel"].as_str(), Some("messages"));
        assert_eq!(trigger["component"].as_str(), Some("echo"));
    }

    #[test]
    fn a_version_1_manifest_without_a_trigger_is_refused_naming_it() {
        let error = v1_to_v2(toml::from_str("spin_version = \"1\"\nname = \"x\"").unwrap());
        assert!(error.unwrap_err().contains("trigger"));
    }
}
