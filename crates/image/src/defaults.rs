//! What an image brings to a run, and how a run's flags combine with it. One place, so that
//! `skiff run IMAGE` and the daemon's `run -d IMAGE` mean the same thing.

use skiff_capabilities::{DirGrant, Grants, Limits, NetworkPolicy};
use skiff_manifest::AppConfig;

use crate::image::{Image, ImageError};
use crate::store::{Store, StoreError};

/// An image's resolved app config, and its static files as read-only directory grants.
pub struct AppDefaults {
    pub app: AppConfig,
    pub files: Vec<DirGrant>,
    /// What follows the program in another tool's image's `Entrypoint`: kept ahead of the
    /// run's arguments, as `docker run IMAGE ARGS` keeps `ENTRYPOINT` and replaces only `CMD`.
    pub entry_args: Vec<String>,
    /// A blob this call added to the store (a Spin app's files, as a tar), which a pull or load
    /// that fails takes back with its own.
    pub(crate) added: Option<String>,
    /// The Spin app's component, for an image `spin registry push` published.
    pub(crate) spin_app: Option<crate::spin::SpinApp>,
}

impl AppDefaults {
    /// The Spin component: its route (whose headers its requests get) and the components it
    /// may call.
    pub fn spin(&self) -> Option<crate::SpinComponent> {
        self.spin_app.as_ref().map(crate::spin::SpinApp::component)
    }

    /// The Spin key-value stores the component may open (its `key_value_stores`).
    pub fn spin_stores(&self) -> Vec<String> {
        let spin = self.spin_app.as_ref();
        spin.map(crate::spin::SpinApp::key_value_stores)
            .unwrap_or_default()
    }

    /// The Spin SQLite databases the component may open (its `sqlite_databases`).
    pub fn spin_databases(&self) -> Vec<String> {
        let spin = self.spin_app.as_ref();
        spin.map(crate::spin::SpinApp::sqlite_databases)
            .unwrap_or_default()
    }

    /// The Redis channels the Spin component's triggers subscribe it to, their variables at
    /// their defaults (`[[trigger.redis]]`); none if a variable has no default.
    pub fn redis_channels(&self) -> Vec<skiff_capabilities::RedisChannel> {
        let spin = self.spin_app.as_ref();
        spin.and_then(|spin| spin.redis_channels(&[]).ok())
            .unwrap_or_default()
    }

    /// What `wasi:config/store` answers with the image's defaults alone (a Spin component's
    /// `config` over its variables' defaults), below `-S config-var`.
    pub fn config(&self) -> Vec<(String, String)> {
        let spin = self.spin_app.as_ref();
        spin.map(|spin| spin.config(&[]).0).unwrap_or_default()
    }

    /// The program's arguments (after its name): the image's entrypoint's own, then `given`,
    /// else the image's default arguments (`args` of its app config, or `Cmd`).
    pub fn args(&self, given: Option<&[String]>) -> Vec<String> {
        let rest = given.unwrap_or(&self.app.args);
        self.entry_args.iter().chain(rest).cloned().collect()
    }
}

impl Image {
    /// The image's defaults, extracting its static files on first use.
    pub fn defaults(&self, store: &Store) -> Result<AppDefaults, ImageError> {
        if let (None, Some(spin)) = (&self.app, &self.spin) {
            return self.spin_defaults(store, spin);
        }
        let (app, entry_args) = match &self.app {
            Some(app) => (app.clone(), Vec::new()),
            None => self.oci_defaults(),
        };
        let mut files = Vec::new();
        if let Some(layer) = self.files_layer() {
            let root = crate::materialize_files(store, layer)?;
            for spec in &app.files {
                let Some((guest, host)) = crate::files::top_dir(&root, &spec.destination) else {
                    return Err(ImageError::BadFiles {
                        digest: layer.digest.clone(),
                        reason: format!(
                            "the app config puts files at `{}`, which the layer does not hold",
                            spec.destination
                        ),
                    });
                };
                if !files.iter().any(|f: &DirGrant| f.guest == guest) {
                    files.push(DirGrant {
                        host,
                        guest,
                        read_only: true,
                    });
                }
            }
            files.sort_by(|a, b| a.guest.cmp(&b.guest));
        }
        Ok(AppDefaults {
            app,
            files,
            entry_args,
            added: None,
            spin_app: None,
        })
    }

    /// What a Spin app's component is given in Spin: its environment, its files at `/`
    /// (read-only: a tar of them is stored as a blob of its own and extracted as any files
    /// layer is), its `config` for `wasi:config/store`, and as declared network destinations
    /// its `allowed_outbound_hosts`.
    fn spin_defaults(
        &self,
        store: &Store,
        spin: &crate::spin::SpinApp,
    ) -> Result<AppDefaults, ImageError> {
        let mut files = Vec::new();
        let mut added = None;
        if let Some((mut tar, digest, size)) = self.spin_files_tar(store, spin)? {
            let existed = store.has_blob(&digest);
            store.put_verified(&digest, &mut tar)?;
            if !existed {
                added = Some(digest.clone());
            }
            let layer = oci_client::manifest::OciDescriptor {
                media_type: crate::media::SKIFF_FILES.into(),
                digest,
                size: size as i64,
                ..Default::default()
            };
            files.push(DirGrant {
                host: crate::materialize_files(store, &layer)?,
                guest: "/".into(),
                read_only: true,
            });
        }
        let app = AppConfig {
            name: self.digest.clone(),
            env: spin.env(),
            network: spin.network(),
            ..Default::default()
        };
        Ok(AppDefaults {
            app,
            files,
            entry_args: Vec::new(),
            added,
            spin_app: Some(spin.clone()),
        })
    }

    /// A Spin app's files as a tar in a temp file (read from its start), its digest and size;
    /// `None` when the component has none.
    fn spin_files_tar(
        &self,
        store: &Store,
        spin: &crate::spin::SpinApp,
    ) -> Result<Option<(std::fs::File, String, u64)>, ImageError> {
        use sha2::Digest as _;
        use std::io::Seek as _;
        let io = |e: std::io::Error| StoreError::Io {
            path: std::env::temp_dir(),
            source: e,
        };
        let mut file = tempfile::tempfile().map_err(io)?;
        let mut hasher = sha2::Sha256::new();
        let mut out = crate::spin::Tee(&mut file, crate::files::HashWriter(&mut hasher));
        if !spin.write_files(store, &self.digest, &self.manifest, &mut out)? {
            return Ok(None);
        }
        let size = file.stream_position().map_err(io)?;
        file.rewind().map_err(io)?;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        Ok(Some((file, digest, size)))
    }

    /// The blob a Spin app's files are stored in once run, which `prune` keeps while the image
    /// is named.
    pub(crate) fn spin_files(&self, store: &Store) -> Option<String> {
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        let mut out = crate::files::HashWriter(&mut hasher);
        let written =
            self.spin
                .as_ref()?
                .write_files(store, &self.digest, &self.manifest, &mut out);
        written
            .ok()?
            .then(|| format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// What an image another tool made asks of a run, as `docker run` reads its OCI config:
    /// its `Env`, and as arguments what follows the program in `Entrypoint` + `Cmd`. Returned
    /// apart, what follows it in `Entrypoint` itself, which arguments given to the run do not
    /// replace (with no `Entrypoint`, `Cmd` names the program and they replace all of it).
    fn oci_defaults(&self) -> (AppConfig, Vec<String>) {
        let strings = |key: &str| -> Vec<String> {
            self.config
                .pointer(&format!("/config/{key}"))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        // `KEY=VALUE` entries with a name `-e` would take; never the host's value of a bare
        // `KEY`, and an entry `-e` would refuse is left out.
        let env = strings("Env")
            .iter()
            .filter_map(|kv| skiff_capabilities::parse_env_assignment(kv, |_| None).ok()?)
            .collect();
        let entrypoint = strings("Entrypoint");
        let (entry_args, args) = match entrypoint.split_first() {
            Some((_program, entry_args)) => (entry_args.to_vec(), strings("Cmd")),
            None => (Vec::new(), strings("Cmd").into_iter().skip(1).collect()),
        };
        let workdir = self
            .config
            .pointer("/config/WorkingDir")
            .and_then(|v| v.as_str())
            .filter(|w| w.starts_with('/') && *w != "/")
            .map(str::to_string);
        let app = AppConfig {
            name: self.digest.clone(),
            args,
            env,
            workdir,
            ..Default::default()
        };
        (app, entry_args)
    }
}

/// The grants of a run: the image's env and files, then the flags' env (later wins) and
/// directories. The working directory is the flags' (`-w`), else the image's when the run lets
/// the app see it (a directory granted at or above it): a Docker image's `WORKDIR` names a
/// directory of its file system, which a Wasm app is not given, so elsewhere it starts in `/`
/// as before. The network is the flags' own grants, plus the destinations the image declares
/// only when the user accepted them (`--network image`): an image never grants itself network
/// access (docs/decisions/0002-egress-rule.md).
pub fn merge_grants(
    defaults: Option<&AppDefaults>,
    flags: &Grants,
    accept_image_network: bool,
) -> Grants {
    let mut env = defaults.map(|d| d.app.env_vec()).unwrap_or_default();
    env.extend(flags.env.iter().cloned());
    let mut dirs = defaults.map(|d| d.files.clone()).unwrap_or_default();
    dirs.extend(flags.dirs.iter().cloned());
    if let Some(defaults) = defaults {
        for volume in &defaults.app.volumes {
            if !dirs.iter().any(|d| &d.guest == volume) {
                tracing::warn!(
                    "the image expects a directory at `{volume}`; grant one with `-v HOST_DIR:{volume}`"
                );
            }
        }
    }
    let network = match defaults {
        Some(defaults) if accept_image_network => flags.network.union(&defaults.app.network),
        _ => flags.network.clone(),
    };
    // A Spin app's variables come from the run's environment (`SPIN_VARIABLE_NAME`), as Spin's
    // environment provider reads them; `-S config-var` comes last.
    let mut config = match defaults {
        Some(AppDefaults {
            spin_app: Some(spin),
            ..
        }) => {
            let (values, missing) = spin.config(&env);
            for (key, variable) in missing {
                if !flags.config.iter().any(|(k, _)| *k == key) {
                    tracing::warn!(
                        "the Spin app's variable `{variable}` has no value, so `{key}` has none: \
                         give it with `-e SPIN_VARIABLE_{}=VALUE`",
                        variable.to_ascii_uppercase()
                    );
                }
            }
            values
        }
        _ => Vec::new(),
    };
    config.extend(flags.config.iter().cloned());
    let redis_channels = match defaults.and_then(|d| d.spin_app.as_ref()) {
        Some(spin) => spin.redis_channels(&env).unwrap_or_else(|why| {
            tracing::warn!("the Spin app cannot subscribe: {why}");
            Vec::new()
        }),
        None => flags.redis_channels.clone(),
    };
    Grants {
        env,
        network,
        listen: flags.listen.clone(),
        listen_udp: flags.listen_udp.clone(),
        config,
        keyvalue: flags.keyvalue.clone(),
        spin_stores: match defaults.and_then(|d| d.spin_app.as_ref()) {
            Some(spin) => spin.key_value_stores(),
            None => flags.spin_stores.clone(),
        },
        spin_databases: match defaults.and_then(|d| d.spin_app.as_ref()) {
            Some(spin) => spin.sqlite_databases(),
            None => flags.spin_databases.clone(),
        },
        redis_channels,
        nn: flags.nn.clone(),
        sockets: flags.sockets,
        workdir_unchecked: flags.workdir_unchecked,
        workdir: flags.workdir.clone().or_else(|| {
            let workdir = defaults?.app.workdir.as_deref()?;
            visible(workdir, &dirs).then(|| workdir.to_string())
        }),
        dirs,
    }
}

/// Whether `workdir` lies in a directory granted at an absolute guest path, with none granted as
/// `.` (which a working directory would replace): the rule `-w` is checked by.
fn visible(workdir: &str, dirs: &[DirGrant]) -> bool {
    use std::path::{Component, Path};
    let path = Path::new(workdir);
    !path.components().any(|c| c == Component::ParentDir)
        && !skiff_capabilities::dot_granted(dirs)
        && skiff_capabilities::granted_dir_of(dirs, path).is_some()
}

/// The line to show the user when the image declares network destinations that the run does not
/// grant: what it asks for, and the flag that accepts it.
pub fn network_notice(
    defaults: Option<&AppDefaults>,
    flags: &NetworkPolicy,
    accept_image_network: bool,
) -> Option<String> {
    let declared = &defaults?.app.network;
    let missing = declared.without(flags);
    if accept_image_network || missing.is_empty() {
        return None;
    }
    let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
    Some(format!(
        "note: the image asks for network access to {}, not granted; accept it with `--network image`",
        missing.join(", ")
    ))
}

/// Each limit given by a flag replaces the image's.
pub fn merge_limits(defaults: Option<&AppDefaults>, flags: &Limits) -> Limits {
    let base = defaults.map(|d| d.app.limits.clone()).unwrap_or_default();
    base.overlaid(flags)
}
