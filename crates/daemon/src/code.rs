//! The daemon's compiled code: every app running the same Wasm shares one compiled `App`, and
//! the most recently used HTTP handlers stay loaded while idle, so thousands of apps scale to zero
//! (an idle app holds no instance, and its code only while it is among the most recently used).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use skiff_api::PullPolicy;
use skiff_http::Loader;
use skiff_runtime::{App, Runtime, WarmApps};

use crate::supervisor::Fail;

/// What a source holds: its compiled app, the image's defaults, and the digest its record keeps
/// (an image's manifest digest, so a restart finds the same image; a file's Wasm digest).
pub struct Loaded {
    pub app: Arc<App>,
    pub defaults: Option<skiff_image::AppDefaults>,
    pub digest: String,
    /// A Spin app of several components: each of its HTTP components, with its own defaults
    /// (`app` is the first one's; `defaults` is `None`).
    pub components: Vec<LoadedComponent>,
    /// And each of its Redis trigger components, subscribed while the app serves.
    pub triggers: Vec<LoadedComponent>,
}

/// A component of a Spin app of several, compiled.
pub struct LoadedComponent {
    pub spin: skiff_image::SpinComponent,
    pub app: Arc<App>,
    pub defaults: skiff_image::AppDefaults,
}

/// The source a component of the app at `source` is loaded from again (its code is kept by
/// that key too): `SOURCE#ID`.
pub fn component_source(source: &str, id: &str) -> String {
    format!("{source}#{id}")
}

pub struct Code {
    runtime: Runtime,
    root: PathBuf,
    /// Compiled apps by Wasm digest, while any app uses them.
    shared: Mutex<HashMap<String, Weak<App>>>,
    /// HTTP handlers kept loaded, by record digest, least recently used dropped first.
    warm: WarmApps,
}

impl Code {
    pub fn new(runtime: Runtime, root: PathBuf, warm_capacity: usize) -> Arc<Self> {
        Arc::new(Code {
            runtime,
            root,
            shared: Mutex::default(),
            warm: WarmApps::new(warm_capacity),
        })
    }

    /// Reads a source (an absolute file path, a digest, or an image reference, pulled if
    /// missing; `SOURCE#ID` for one component of a Spin app) and returns its compiled app,
    /// compiling (or mapping it from the compile cache) only if no app has it loaded. Blocking:
    /// call it off the async workers.
    /// `pull`: whether an image is pulled first (`--pull`); a later load of the same app (a
    /// restart, a request after its code was dropped) finds it stored.
    pub fn load(&self, source: &str, pull: PullPolicy) -> Result<Loaded, Fail> {
        let bad = |e: &dyn std::fmt::Display| Fail::new(400, e.to_string(), None);
        if source.starts_with('/') {
            let (bytes, name) = read_file(source)?;
            let (app, key) = self.compile(&name, &bytes)?;
            return Ok(Loaded {
                app,
                defaults: None,
                digest: key,
                components: Vec::new(),
                triggers: Vec::new(),
            });
        }
        let (image, component) = match source.rsplit_once('#') {
            Some((image, id)) => (image, Some(id)),
            None => (source, None),
        };
        let store = skiff_image::Store::open(&self.root).map_err(Fail::internal)?;
        let manifest = stored_image(&self.root, &store, image, pull)?;
        let images = match component {
            Some(id) => vec![
                skiff_image::Image::open_component(&store, &manifest, Some(id))
                    .map_err(|e| bad(&e))?,
            ],
            None => skiff_image::Image::components(&store, &manifest).map_err(|e| bad(&e))?,
        };
        let mut parts = Vec::new();
        for image in &images {
            let name = match image.spin_component() {
                Some(c) if images.len() > 1 => component_source(source, &c.id),
                _ => source.to_string(),
            };
            let defaults = image.defaults(&store).map_err(|e| bad(&e))?;
            let bytes = image.wasm_bytes(&store).map_err(|e| bad(&e))?;
            let (app, _) = self.compile(&name, &bytes)?;
            parts.push((image.spin_component(), app, defaults));
        }
        // The record keeps the manifest digest, so a restart finds the same image even if the
        // name has moved since.
        if parts.len() == 1 {
            let (_, app, defaults) = parts.remove(0);
            return Ok(Loaded {
                app,
                defaults: Some(defaults),
                digest: manifest,
                components: Vec::new(),
                triggers: Vec::new(),
            });
        }
        // A Spin app of several: its HTTP components are served, each on its route, and its
        // Redis triggers subscribed beside them, as `spin up` runs every trigger of an app.
        let mut components = Vec::new();
        let mut triggers = Vec::new();
        for (spin, app, defaults) in parts {
            let spin = spin.expect("an image of several is a Spin app's");
            if app.handles_redis_messages() {
                triggers.push(LoadedComponent {
                    spin,
                    app,
                    defaults,
                });
                continue;
            }
            if app.kind() != skiff_runtime::AppKind::Http {
                tracing::info!(
                    "Spin component `{}` of `{source}` is not a `wasi:http` handler (a WAGI or \
                     non-HTTP trigger): not served",
                    spin.id
                );
                continue;
            }
            components.push(LoadedComponent {
                spin,
                app,
                defaults,
            });
        }
        let Some(first) = components.first() else {
            if let Some(trigger) = triggers.first() {
                return Err(Fail::new(
                    400,
                    format!(
                        "the Spin app `{source}` has several components, Redis triggers' (`{}`) \
                         and no HTTP one: the daemon runs a Redis trigger as an app of its own, or \
                         beside an app's HTTP components",
                        trigger.spin.id
                    ),
                    Some(skiff_image::REDIS_BESIDE_OTHERS_HINT),
                ));
            }
            return Err(Fail::new(
                400,
                format!("the Spin app `{source}` has no `wasi:http` component to serve"),
                Some(skiff_image::NO_HTTP_COMPONENT_HINT),
            ));
        };
        Ok(Loaded {
            app: first.app.clone(),
            defaults: None,
            digest: manifest,
            components,
            triggers,
        })
    }

    /// The compiled app of `bytes`, shared with every app that runs the same, and its key.
    fn compile(&self, name: &str, bytes: &[u8]) -> Result<(Arc<App>, String), Fail> {
        let key = skiff_runtime::digest(bytes);
        let cached = self
            .shared
            .lock()
            .unwrap()
            .get(&key)
            .and_then(Weak::upgrade);
        if let Some(app) = cached {
            return Ok((app, key));
        }
        let app = self
            .runtime
            .load(name, bytes, &mut |_| {})
            .map_err(|e| Fail::new(400, e.to_string(), e.hint()))?;
        // A handler waits for requests, holding no more of its code than it runs.
        if app.kind() == skiff_runtime::AppKind::Http {
            app.unmap_idle_code();
        }
        let app = Arc::new(app);
        let mut shared = self.shared.lock().unwrap();
        shared.retain(|_, w| w.strong_count() > 0);
        shared.insert(key.clone(), Arc::downgrade(&app));
        Ok((app, key))
    }

    /// Holds the image an app runs from, so that `rmi` and `prune` leave its blobs alone
    /// while the app exists (`skiff_image::Store::hold`); an app from a file holds nothing.
    /// Best effort: a failure is logged, and the next daemon start sets the holds again.
    pub fn hold(&self, app: &str, source: &str, digest: &str) {
        if source.starts_with('/') {
            return;
        }
        let held = skiff_image::Store::open(&self.root).and_then(|s| s.hold(app, digest));
        if let Err(e) = held {
            tracing::warn!(%app, "cannot hold the app's image against pruning: {e}");
        }
    }

    /// Ends the hold of a removed app.
    pub fn release(&self, app: &str) {
        let released = skiff_image::Store::open(&self.root).and_then(|s| s.release(app));
        if let Err(e) = released {
            tracing::warn!(%app, "cannot release the app's image: {e}");
        }
    }

    /// Makes the holds exactly those of `apps` (name, source, digest): what a crash between
    /// the state and the image store left behind is put right.
    pub fn set_holds<'a>(&self, apps: impl Iterator<Item = (&'a str, &'a str, &'a str)>) {
        let holds: Vec<(String, String)> = apps
            .filter(|(_, source, _)| !source.starts_with('/'))
            .map(|(name, _, digest)| (name.to_string(), digest.to_string()))
            .collect();
        let set = skiff_image::Store::open(&self.root).and_then(|s| s.set_holds(&holds));
        if let Err(e) = set {
            tracing::warn!("cannot hold the apps' images against pruning: {e}");
        }
    }

    /// Drops a handler kept loaded, once no app runs its code.
    pub fn forget(&self, key: &str) {
        self.warm.remove(key);
    }

    /// Gives back the code pages of the handlers that served no request for `idle`.
    pub fn give_back_idle(&self, idle: std::time::Duration) {
        self.warm.give_back_idle(idle);
    }

    /// Keeps a handler loaded while idle (until less recently used ones push it out).
    pub fn keep_warm(&self, key: &str, app: Arc<App>) {
        self.warm.insert(key, app);
    }

    /// An HTTP app's code on each request: warm, or loaded again from its source.
    pub fn loader(self: &Arc<Self>, key: String, source: String) -> Loader {
        let code = self.clone();
        Box::new(move || {
            let code = code.clone();
            let (key, source) = (key.clone(), source.clone());
            Box::pin(async move {
                if let Some(app) = code.warm.get(&key) {
                    return Ok(app);
                }
                let loading = code.clone();
                let app =
                    tokio::task::spawn_blocking(move || loading.load(&source, PullPolicy::Missing))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|f| f.error.message)?
                        .app;
                code.keep_warm(&key, app.clone());
                Ok(app)
            })
        })
    }
}

/// The bytes of the Wasm file at `source`, and a name for messages.
fn read_file(source: &str) -> Result<(Vec<u8>, String), Fail> {
    let bytes = std::fs::read(source).map_err(|e| {
        Fail::new(
            400,
            format!("cannot read `{source}`: {e}"),
            Some("give the path of a .wasm or .wat file the daemon can read"),
        )
    })?;
    let name = Path::new(source)
        .file_name()
        .map_or_else(|| source.to_string(), |n| n.to_string_lossy().into_owned());
    Ok((bytes, name))
}

/// The manifest digest of an image (a digest, or a reference, pulled if missing as `pull` says).
fn stored_image(
    root: &Path,
    store: &skiff_image::Store,
    source: &str,
    pull: PullPolicy,
) -> Result<String, Fail> {
    let bad = |e: &dyn std::fmt::Display, hint: Option<&str>| Fail::new(400, e.to_string(), hint);
    let local = if source.starts_with("sha256:") && store.has_blob(source) {
        Some(source.to_string())
    } else if pull == PullPolicy::Always {
        None
    } else {
        skiff_image::resolve_local(store, source)
            .map_err(Fail::internal)?
            .map(|(_, digest)| digest)
    };
    match local {
        Some(digest) => Ok(digest),
        None if pull == PullPolicy::Never => Err(Fail::new(
            404,
            format!("no image `{source}` in the store, and `--pull never` was given"),
            Some("pull it first with `skiff pull IMAGE`, or drop `--pull never`"),
        )),
        None => {
            let reference = skiff_image::parse_reference(source).map_err(|e| {
                bad(
                    &e,
                    Some("give an absolute path to a .wasm file, or an image name"),
                )
            })?;
            let auth = skiff_image::auth_for(root, reference.resolve_registry())
                .map_err(Fail::internal)?;
            tokio::runtime::Handle::current()
                .block_on(skiff_image::pull(
                    store,
                    &reference,
                    &auth,
                    false,
                    &skiff_image::Quiet,
                ))
                .map_err(|e| bad(&e, e.hint().as_deref()))
        }
    }
}
