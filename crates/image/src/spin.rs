//! Spin applications as `spin registry push` publishes them: the locked app (Spin's resolved
//! `spin.lock`, a JSON layer of its own, or the config blob in images of Spin before 2.0) names
//! each component's Wasm layer, its environment, its files (a data layer each, inlined when
//! tiny, or inside a gzipped archive layer), its `config` (templates over the app's
//! `variables`) and the hosts it may reach. An app of one component runs as Spin runs it, with
//! those defaults; an app of several is an image per component ([`crate::Image::components`]),
//! which `skiff serve` and the daemon serve as one HTTP app, each component on its route
//! (`skiff_http::HttpApp::of_components`), and `skiff run` refuses, naming them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use serde::Deserialize;
use skiff_capabilities::{Endpoint, NetworkPolicy};

use crate::image::ImageError;
use crate::store::Store;
use crate::{limits, media};

/// What to do with a Spin app none of whose components is a `wasi:http` handler (a command, or
/// Spin 1's WAGI or another trigger's), which `skiff serve`, the daemon and the shim serve.
pub const NO_HTTP_COMPONENT_HINT: &str = "a Spin app of one such component runs with `skiff run \
     IMAGE`; of several, publish the component as an app of its own (a spin.toml of that \
     component) and `skiff run` that";

/// What to do with a Spin app of several Redis triggers and no HTTP component, which the daemon
/// and the shim cannot run as one app.
pub const REDIS_BESIDE_OTHERS_HINT: &str = "run the whole app with `skiff serve spin.toml` (as \
     `spin up`), or publish each Redis trigger's component as an app of its own (a spin.toml of \
     that component and its `[[trigger.redis]]`) and `skiff run -d` it";

/// The parts of Spin's locked app that Skiff reads (`spin-locked-app`'s `LockedApp`).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LockedApp {
    #[serde(default)]
    must_understand: Vec<serde_json::Value>,
    #[serde(default)]
    host_requirements: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    metadata: serde_json::Value,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    triggers: Vec<Trigger>,
    components: Vec<Component>,
}

#[derive(Clone, Debug, Deserialize)]
struct Variable {
    #[serde(default)]
    default: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct Trigger {
    trigger_type: String,
    #[serde(default)]
    trigger_config: serde_json::Value,
}

#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Component {
    id: String,
    #[serde(default)]
    metadata: serde_json::Value,
    source: Content,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<FileContent>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    host_requirements: BTreeMap<String, serde_json::Value>,
}

/// Spin's `ContentRef`: the content inline (base64), or the digest of a layer holding it.
#[derive(Clone, Debug, Default, Deserialize)]
struct Content {
    #[serde(default)]
    inline: Option<String>,
    #[serde(default)]
    digest: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct FileContent {
    #[serde(flatten)]
    content: Content,
    path: String,
}

/// Names and values (`wasi:config` keys and values, or keys and the variables they lack).
type Pairs = Vec<(String, String)>;

/// The most components a Spin app may have: Spin publishes a layer per component, and
/// registries take about 500 layers per image.
const MAX_COMPONENTS: usize = 500;

/// The component of a Spin app that Skiff runs, with what its app says about it (shared by all
/// its components' images).
#[derive(Clone, Debug)]
pub(crate) struct SpinApp {
    app: Arc<LockedApp>,
    component: Component,
}

/// The locked app of a Spin image, if it is one: a layer of Spin's type, or (Spin before 2.0)
/// the config blob itself.
pub(crate) fn read(
    store: &Store,
    digest: &str,
    manifest: &OciImageManifest,
    wanted: Option<&str>,
) -> Result<Option<SpinApp>, ImageError> {
    let blob = manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
        .find(|d| d.media_type == media::SPIN_APP);
    let Some(blob) = blob else {
        return Ok(None);
    };
    let bad = |reason: String| ImageError::BadSpinApp {
        digest: digest.to_string(),
        reason,
    };
    let bytes = store.get_limited(&blob.digest, limits::MAX_JSON, "a Spin locked app")?;
    let app: LockedApp = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if app.components.len() > MAX_COMPONENTS {
        return Err(bad(format!(
            "it has {} components, more than {MAX_COMPONENTS}",
            app.components.len()
        )));
    }
    // Spin itself refuses an app whose requirements it does not know; so does Skiff. The one
    // Spin knows, `local_service_chaining`, is `skiff serve`'s calls between components.
    let required: Vec<String> = app
        .host_requirements
        .iter()
        .chain(app.components.iter().flat_map(|c| &c.host_requirements))
        .filter(|(k, v)| v.as_str() != Some("optional") && *k != "local_service_chaining")
        .map(|(k, _)| format!("`{k}`"))
        .collect();
    if !required.is_empty() {
        return Err(bad(format!(
            "it requires host features Skiff does not provide: {}",
            required.join(", ")
        )));
    }
    if let Some(unknown) = app.must_understand.iter().find(|m| {
        !["host_requirements", "component_host_requirements"].contains(&m.as_str().unwrap_or(""))
    }) {
        return Err(bad(format!(
            "it must be understood as `{unknown}`, which Skiff does not know"
        )));
    }
    let app = Arc::new(app);
    let id = match (&app.components[..], wanted) {
        (_, Some(id)) => id,
        ([one], None) => &one.id,
        ([], None) => return Err(bad("it has no component".into())),
        (several, None) => {
            return Err(ImageError::SpinComponents {
                digest: digest.to_string(),
                components: several.iter().map(|c| app.component(c)).collect(),
            });
        }
    };
    SpinApp::of(&app, digest, id).map(Some)
}

/// A component of a Spin app of several, and the path its HTTP trigger routes to it.
#[derive(Clone, Debug)]
pub struct SpinComponent {
    pub id: String,
    /// As Spin writes it, under the app's base path: `/...` (everything), `/api/...` (`/api`
    /// and below), `/hello` (that path); `None`: no public HTTP route.
    pub route: Option<String>,
    /// The components it may call in-process, from its `allowed_outbound_hosts`
    /// (`http://NAME.spin.internal`): component ids, `*` for all of them, `self` for its app's
    /// routes (`http://self/PATH`).
    pub calls: Vec<String>,
}

impl std::fmt::Display for SpinComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.route {
            Some(route) => write!(f, "`{}` (route `{route}`)", self.id),
            None => write!(f, "`{}`", self.id),
        }
    }
}

impl LockedApp {
    /// What Skiff tells of `component`: its id, route and the components it may call.
    fn component(&self, component: &Component) -> SpinComponent {
        let calls = outbound_hosts(component)
            .iter()
            .filter_map(|host| {
                let (scheme, authority) = host.split_once("://")?;
                let name = authority.trim_end_matches('/');
                let name = name.rsplit_once(':').map_or(name, |(n, _)| n);
                let name = match name.strip_suffix(".spin.internal") {
                    Some(component) => component,
                    None => (name == "self").then_some(name)?,
                };
                ["http", "*"].contains(&scheme).then(|| name.to_string())
            })
            .collect();
        SpinComponent {
            id: component.id.clone(),
            route: self.route_of(&component.id),
            calls,
        }
    }

    /// The public HTTP route a trigger gives a component, under the app's base path (Spin 1's
    /// `metadata.trigger.base`, or `[application.trigger.http] base` of a manifest, which `skiff
    /// build` keeps as `metadata.triggers.http.base`; Spin 2 writes routes whole).
    fn route_of(&self, component: &str) -> Option<String> {
        let route = self
            .triggers
            .iter()
            .filter(|t| t.trigger_type == "http")
            .find(|t| t.trigger_config.get("component").and_then(|c| c.as_str()) == Some(component))
            .and_then(|t| t.trigger_config.get("route")?.as_str())?;
        let base = ["/trigger/base", "/triggers/http/base"]
            .into_iter()
            .find_map(|at| self.metadata.pointer(at)?.as_str())
            .unwrap_or("/")
            .trim_end_matches('/');
        Some(format!("{base}{route}"))
    }
}

impl LockedApp {
    /// The Redis channels a trigger subscribes `component` to, as templates over the app's
    /// variables: (address, channel). The address is the trigger's own, else the app's
    /// (`[application.trigger.redis]`, or Spin 1's `trigger = { type = "redis", address }`).
    fn redis_triggers(&self, component: &str) -> Vec<(String, String)> {
        let app_address = match self.metadata.pointer("/triggers/redis/address") {
            Some(address) => address.as_str(),
            None => (self
                .metadata
                .pointer("/trigger/type")
                .and_then(|t| t.as_str())
                == Some("redis"))
            .then(|| self.metadata.pointer("/trigger/address")?.as_str())
            .flatten(),
        };
        self.triggers
            .iter()
            .filter(|t| t.trigger_type == "redis")
            .filter(|t| {
                t.trigger_config.get("component").and_then(|c| c.as_str()) == Some(component)
            })
            .filter_map(|t| {
                let config = &t.trigger_config;
                let address = config
                    .get("address")
                    .and_then(|a| a.as_str())
                    .or(app_address);
                let channel = config.get("channel")?.as_str()?;
                Some((address.unwrap_or_default().to_string(), channel.to_string()))
            })
            .collect()
    }
}

/// The port a Spin outbound host of `scheme` means when it names none (Spin's defaults).
fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme.to_ascii_lowercase().as_str() {
        "redis" | "rediss" => 6379,
        "postgres" => 5432,
        "mysql" => 3306,
        "mqtt" => 1883,
        "mqtts" => 8883,
        _ => return None,
    })
}

/// A component's `allowed_outbound_hosts`, and Spin 1's `allowed_http_hosts` as those (each HTTP
/// host over `http` and `https`, as Spin converts them).
fn outbound_hosts(component: &Component) -> Vec<String> {
    let listed = |key: &str| {
        let hosts = component.metadata.get(key).and_then(|h| h.as_array());
        hosts.into_iter().flatten().filter_map(|h| h.as_str())
    };
    let http = listed("allowed_http_hosts").flat_map(allowed_http_host);
    listed("allowed_outbound_hosts")
        .map(str::to_string)
        .chain(http)
        .collect()
}

/// A Spin 1 `allowed_http_hosts` entry (`HOST[:PORT]`, with or without a scheme, which Spin 1
/// ignored; `self`; `insecure:allow-all`) as Spin 2's `allowed_outbound_hosts`.
pub(crate) fn allowed_http_host(host: &str) -> Vec<String> {
    if host == "insecure:allow-all" {
        return vec![
            "http://*:*".into(),
            "https://*:*".into(),
            "http://self".into(),
        ];
    }
    let authority = host.split_once("://").map_or(host, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or_default();
    if authority == "self" {
        return vec!["http://self".into()];
    }
    vec![
        format!("http://{authority}"),
        format!("https://{authority}"),
    ]
}

impl SpinApp {
    /// Component `id` of `app` (of the image `digest`), refused if it cannot run as published.
    fn of(app: &Arc<LockedApp>, digest: &str, id: &str) -> Result<SpinApp, ImageError> {
        let bad = |reason: String| ImageError::BadSpinApp {
            digest: digest.to_string(),
            reason,
        };
        let component = app
            .components
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| bad(format!("it has no component `{id}`")))?;
        if !component.dependencies.is_empty() {
            return Err(bad(format!(
                "component `{id}` has dependencies that were not composed into it"
            )));
        }
        Ok(SpinApp {
            app: app.clone(),
            component: component.clone(),
        })
    }

    /// Component `id` of the same app.
    pub(crate) fn sibling(&self, digest: &str, id: &str) -> Result<SpinApp, ImageError> {
        SpinApp::of(&self.app, digest, id)
    }

    pub(crate) fn component(&self) -> SpinComponent {
        self.app.component(&self.component)
    }

    /// The layer that is the component's Wasm.
    pub(crate) fn wasm_layer(
        &self,
        digest: &str,
        manifest: &OciImageManifest,
    ) -> Result<OciDescriptor, ImageError> {
        let source = self.component.source.digest.as_deref();
        manifest
            .layers
            .iter()
            .find(|l| Some(l.digest.as_str()) == source)
            .cloned()
            .ok_or_else(|| ImageError::BadSpinApp {
                digest: digest.to_string(),
                reason: format!(
                    "component `{}`'s Wasm ({}) is not a layer of the image",
                    self.component.id,
                    source.unwrap_or("no digest")
                ),
            })
    }

    /// The key-value stores the component may open (its `key_value_stores`), as Spin's
    /// `fermyon:spin/key-value` opens them.
    pub(crate) fn key_value_stores(&self) -> Vec<String> {
        self.labels("key_value_stores")
    }

    /// The SQLite databases the component may open (its `sqlite_databases`), as Spin's
    /// `fermyon:spin/sqlite` opens them.
    pub(crate) fn sqlite_databases(&self) -> Vec<String> {
        self.labels("sqlite_databases")
    }

    fn labels(&self, key: &str) -> Vec<String> {
        let stores = self.component.metadata.get(key);
        let labels = stores.and_then(|s| s.as_array()).into_iter().flatten();
        labels
            .filter_map(|l| Some(l.as_str()?.to_string()))
            .collect()
    }

    /// The component's environment, as Spin gives it.
    pub(crate) fn env(&self) -> BTreeMap<String, String> {
        self.component.env.clone()
    }

    /// The component's `config`, as `wasi:config/store` answers it in Spin: each value's
    /// `{{ variable }}`s replaced by the variable's value, as Spin's environment provider gives
    /// it (`SPIN_VARIABLE_NAME` of `env`: the app's granted environment, `-e`), else its
    /// default. A value naming a variable with neither is left out: returned apart, as its key
    /// and the variable.
    pub(crate) fn config(&self, env: &[(String, String)]) -> (Pairs, Pairs) {
        let (mut values, mut missing) = (Vec::new(), Vec::new());
        for (key, template) in &self.component.config {
            match self.expand(template, env) {
                Ok(value) => values.push((key.clone(), value)),
                Err(variable) => missing.push((key.clone(), variable)),
            }
        }
        (values, missing)
    }

    /// `template` with each `{{ name }}` replaced by the variable's value from `env`, else its
    /// default; the name of a variable with neither is the error.
    fn expand(&self, template: &str, env: &[(String, String)]) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find("}}") else {
                break;
            };
            let name = rest[start + 2..start + end].trim().to_ascii_lowercase();
            let from_env = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            let given = env
                .iter()
                .rev()
                .find(|(k, _)| *k == from_env)
                .map(|(_, v)| v);
            let default = self
                .app
                .variables
                .get(&name)
                .and_then(|v| v.default.as_ref());
            match given.or(default) {
                Some(value) => out.push_str(value),
                None => return Err(name),
            }
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The Redis channels the app's triggers subscribe the component to (`[[trigger.redis]]`),
    /// their addresses' and channels' `{{ variable }}`s replaced as in [`SpinApp::config`]; a
    /// template naming a variable with no value is the error.
    pub(crate) fn redis_channels(
        &self,
        env: &[(String, String)],
    ) -> Result<Vec<skiff_capabilities::RedisChannel>, String> {
        self.app
            .redis_triggers(&self.component.id)
            .into_iter()
            .map(|(address, channel)| {
                if address.is_empty() {
                    return Err(format!(
                        "the Redis trigger of channel `{channel}` names no server: give the app \
                         one with `[application.trigger.redis] address` in its spin.toml"
                    ));
                }
                let expand = |template: &str| {
                    self.expand(template, env).map_err(|variable| {
                        format!(
                            "its Redis trigger uses the variable `{variable}`, which has no \
                             value: give it with `-e SPIN_VARIABLE_{}=VALUE`",
                            variable.to_ascii_uppercase()
                        )
                    })
                };
                Ok(skiff_capabilities::RedisChannel {
                    address: expand(&address)?,
                    channel: expand(&channel)?,
                })
            })
            .collect()
    }

    /// The destinations of the component's `allowed_outbound_hosts` that a grant can name
    /// (`https://HOST[:PORT]`, `http://...`, or any scheme with a port: `redis://HOST:6379`);
    /// declared, so applied only with `--network image`, as any image's. Wildcards, templates
    /// and `self` cannot be granted by destination, and are said.
    pub(crate) fn network(&self) -> NetworkPolicy {
        let mut endpoints = Vec::new();
        for host in outbound_hosts(&self.component).iter().map(String::as_str) {
            let authority = host.split_once("://").map_or(host, |(_, a)| a);
            let name = authority.rsplit_once(':').map_or(authority, |(n, _)| n);
            // `self` and `*.spin.internal` are Spin's calls between components (`calls`).
            if name == "self" || name.ends_with(".spin.internal") {
                continue;
            }
            let endpoint = if host.contains(['{', '*']) && !host.starts_with("*://")
                || authority.contains('*')
            {
                Err(())
            } else {
                Endpoint::parse_grant(host).or_else(|_| {
                    let (scheme, _) = host.split_once("://").ok_or(())?;
                    let authority = authority.trim_end_matches('/');
                    authority.parse::<Endpoint>().or_else(|_| {
                        // Without a port, the scheme's own, as Spin reads it.
                        let port = default_port(scheme).ok_or(())?;
                        format!("{authority}:{port}").parse().map_err(drop)
                    })
                })
            };
            match endpoint {
                Ok(endpoint) if !endpoints.contains(&endpoint) => endpoints.push(endpoint),
                Ok(_) => {}
                Err(()) => tracing::warn!(
                    "the Spin app allows outbound `{host}`, which Skiff cannot grant by \
                     destination: grant the hosts it calls with `--network allow=HOST:PORT`"
                ),
            }
        }
        // The Redis servers its triggers subscribe to, which Spin reaches without
        // `allowed_outbound_hosts`: declared too, so `--network image` accepts them.
        for channel in self.redis_channels(&[]).unwrap_or_default() {
            let authority = channel
                .address
                .split_once("://")
                .map_or(&*channel.address, |(_, a)| a);
            let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
            let authority = authority.split('/').next().unwrap_or_default();
            let endpoint = match authority.rsplit_once(':') {
                Some((_, port)) if port.parse::<u16>().is_ok() => authority.parse::<Endpoint>(),
                _ => format!("{authority}:6379").parse::<Endpoint>(),
            };
            match endpoint {
                Ok(endpoint) if !endpoints.contains(&endpoint) => endpoints.push(endpoint),
                Ok(_) => {}
                Err(_) => tracing::warn!(
                    "the Spin app's Redis trigger subscribes at `{}`, which Skiff cannot grant \
                     by destination: grant it with `--network allow=HOST:PORT`",
                    channel.server()
                ),
            }
        }
        if endpoints.is_empty() {
            NetworkPolicy::None
        } else {
            NetworkPolicy::Allow(endpoints)
        }
    }

    /// Writes to `out` a deterministic tar of the component's files (paths relative to its
    /// root, `/` in the guest), streamed from its data layers, inline content and archive layers,
    /// each file checked against its digest; `false` (nothing written) when it has none. Paths
    /// and sizes are checked before a byte is written, and no file is held in memory whole.
    pub(crate) fn write_files(
        &self,
        store: &Store,
        image: &str,
        manifest: &OciImageManifest,
        out: &mut dyn Write,
    ) -> Result<bool, ImageError> {
        if self.component.files.is_empty() {
            return Ok(false);
        }
        let bad = |reason: String| ImageError::BadSpinApp {
            digest: image.to_string(),
            reason,
        };
        // Where each file comes from, by its path in the guest; archives are unpacked (to a
        // temp dir, by digest) only if a file is in one.
        enum Source {
            Inline(Vec<u8>),
            Blob(String),
            Staged(PathBuf),
        }
        let mut staged: Option<(tempfile::TempDir, BTreeMap<String, u64>)> = None;
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for file in &self.component.files {
            let path = crate::files::plain_relative(std::path::Path::new(&file.path))
                .ok_or_else(|| bad(format!("file path `{}` is not relative names", file.path)))?;
            let (source, size) = match (&file.content.inline, &file.content.digest) {
                (Some(inline), digest) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(inline)
                        .map_err(|e| {
                            bad(format!("file `{}`: its inline content: {e}", file.path))
                        })?;
                    if digest
                        .as_ref()
                        .is_some_and(|d| crate::digest_of(&bytes) != *d)
                    {
                        return Err(bad(format!(
                            "file `{}` does not match its digest",
                            file.path
                        )));
                    }
                    let size = bytes.len() as u64;
                    (Source::Inline(bytes), size)
                }
                // A data layer: the store's reader checks it against its digest as it is read.
                (None, Some(digest)) if manifest.layers.iter().any(|l| &l.digest == digest) => {
                    (Source::Blob(digest.clone()), store.blob_size(digest)?)
                }
                (None, Some(digest)) => {
                    let (dir, sizes) = match &mut staged {
                        Some(staged) => staged,
                        None => staged.insert(self.stage_archives(store, manifest).map_err(&bad)?),
                    };
                    let size = *sizes.get(digest).ok_or_else(|| {
                        bad(format!(
                            "file `{}` ({digest}) is in no layer of the image",
                            file.path
                        ))
                    })?;
                    (
                        Source::Staged(dir.path().join(&digest["sha256:".len()..])),
                        size,
                    )
                }
                (None, None) => return Err(bad(format!("file `{}` has no content", file.path))),
            };
            total += size;
            if total > limits::MAX_BLOB {
                return Err(bad("its files are larger than 1 GiB".into()));
            }
            files.insert(path, (source, size));
        }
        let mut tar = tar::Builder::new(out);
        for (path, (source, size)) in &files {
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_size(*size);
            let failed = |e: std::io::Error| bad(format!("file `{}`: {e}", path.display()));
            let reader: Box<dyn Read> = match source {
                Source::Inline(bytes) => Box::new(&bytes[..]),
                Source::Blob(digest) => {
                    Box::new(store.reader(digest, limits::MAX_BLOB, "a Spin data layer")?)
                }
                Source::Staged(file) => Box::new(std::fs::File::open(file).map_err(failed)?),
            };
            tar.append_data(&mut header, path, reader).map_err(failed)?;
        }
        tar.finish().map_err(|e| bad(e.to_string()))?;
        Ok(true)
    }

    /// Unpacks the files of the image's archive layers (`SPIN_OCI_ARCHIVE_LAYERS`) into a temp
    /// dir, each named by its digest, at most 1 GiB in all; returns it and each file's size.
    fn stage_archives(
        &self,
        store: &Store,
        manifest: &OciImageManifest,
    ) -> Result<(tempfile::TempDir, BTreeMap<String, u64>), String> {
        use sha2::Digest as _;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut sizes = BTreeMap::new();
        let mut total = 0u64;
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == media::SPIN_ARCHIVE_LAYER)
        {
            let blob = store
                .reader(&layer.digest, limits::MAX_BLOB, "a Spin archive layer")
                .map_err(|e| e.to_string())?;
            let gunzip = flate2::read::GzDecoder::new(blob).take(limits::MAX_UNPACKED + 1);
            let mut archive = tar::Archive::new(gunzip);
            for entry in archive.entries().map_err(|e| e.to_string())? {
                let mut entry = entry.map_err(|e| e.to_string())?;
                if !entry.header().entry_type().is_file() {
                    continue;
                }
                let mut file =
                    tempfile::NamedTempFile::new_in(dir.path()).map_err(|e| e.to_string())?;
                let mut hasher = sha2::Sha256::new();
                let size = std::io::copy(
                    &mut entry,
                    &mut Tee(&mut file, crate::files::HashWriter(&mut hasher)),
                )
                .map_err(|e| e.to_string())?;
                total += size;
                if total > limits::MAX_UNPACKED {
                    return Err("its archive layers unpack to more than 1 GiB".into());
                }
                let hex = hex::encode(hasher.finalize());
                file.persist(dir.path().join(&hex))
                    .map_err(|e| e.to_string())?;
                sizes.insert(format!("sha256:{hex}"), size);
            }
        }
        Ok((dir, sizes))
    }
}

/// Writes to both.
pub(crate) struct Tee<A, B>(pub(crate) A, pub(crate) B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}
