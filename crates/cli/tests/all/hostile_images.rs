//! Images made by someone else, made to hurt: each is built by hand here (OCI layouts for
//! `skiff load`, raw pushes for `skiff pull`), and each must end in a clear error or a harmless
//! run, with nothing of the host visible and nothing half-written left in the store.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use skiff_test_programs_artifacts::{P1_CLI_ENV, P2_CLI_HELLO};

use crate::daemon::Daemon;
use crate::registry::Registry;
use crate::support::{Outcome, Skiff, build_reader_with_files, path_str};

const FILES: &str = "application/vnd.skiff.files.v1.tar";

/// An OCI image layout held in memory: blobs by digest, and an `index.json` of one image.
struct Layout {
    blobs: BTreeMap<String, Vec<u8>>,
    index: Value,
}

impl Layout {
    /// The image `skiff build` makes of the file-reading guest with `[[files]]` at `/data`,
    /// as `skiff save` writes it: the honest starting point each hostile image is made from.
    fn honest() -> Layout {
        let skiff = Skiff::new();
        let dir = build_reader_with_files(&skiff, "hostile:1.0");
        let tar = dir.path().join("saved.tar");
        skiff
            .run(&["save", "hostile:1.0", "-o", path_str(&tar)])
            .success();
        Layout::read(&tar)
    }

    fn read(path: &Path) -> Layout {
        let mut blobs = BTreeMap::new();
        let mut index = Value::Null;
        let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                blobs.insert(format!("sha256:{hex}"), bytes);
            } else if name == "index.json" {
                index = serde_json::from_slice(&bytes).unwrap();
            }
        }
        Layout { blobs, index }
    }

    fn manifest(&self) -> Value {
        let digest = self.index["manifests"][0]["digest"].as_str().unwrap();
        serde_json::from_slice(&self.blobs[digest]).unwrap()
    }

    /// Stores `manifest` (as given, even if invalid) and points the index at it.
    fn set_manifest_bytes(&mut self, bytes: Vec<u8>) {
        let digest = skiff_image::digest_of(&bytes);
        self.index["manifests"][0]["digest"] = json!(digest);
        self.index["manifests"][0]["size"] = json!(bytes.len());
        self.blobs.insert(digest, bytes);
    }

    fn set_manifest(&mut self, manifest: &Value) {
        self.set_manifest_bytes(serde_json::to_vec(manifest).unwrap());
    }

    /// Replaces the content of the layer of `media_type`, keeping the descriptor honest.
    fn replace_layer(&mut self, media_type: &str, bytes: Vec<u8>) {
        let digest = skiff_image::digest_of(&bytes);
        let mut manifest = self.manifest();
        let layer = manifest["layers"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|l| l["mediaType"] == media_type)
            .unwrap();
        layer["digest"] = json!(digest);
        layer["size"] = json!(bytes.len());
        self.blobs.insert(digest, bytes);
        self.set_manifest(&manifest);
    }

    fn write(&self, path: &Path) {
        let blobs = self.blobs.iter().map(|(d, b)| (d.as_str(), b.as_slice()));
        crate::images::write_layout(path, &self.index, blobs);
    }

    /// `skiff load` of this layout into a fresh store.
    fn load(&self) -> (Skiff, Outcome) {
        let skiff = Skiff::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.tar");
        self.write(&path);
        let out = skiff.run(&["load", "-i", path_str(&path)]);
        (skiff, out)
    }
}

/// One raw tar entry, written byte for byte so that names the `tar` crate refuses to write
/// (`..`, absolute paths) can be made.
struct Entry<'a> {
    name: &'a str,
    kind: tar::EntryType,
    mode: u32,
    link: &'a str,
    data: &'a [u8],
}

fn entry<'a>(name: &'a str, kind: tar::EntryType) -> Entry<'a> {
    Entry {
        name,
        kind,
        mode: 0o644,
        link: "",
        data: b"",
    }
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..e.name.len()].copy_from_slice(e.name.as_bytes());
        header.as_old_mut().linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        header.set_entry_type(e.kind);
        header.set_mode(e.mode);
        header.set_size(e.data.len() as u64);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// The store after a refused image: no blob, no name, no extracted files, no temp files.
#[track_caller]
fn nothing_kept(skiff: &Skiff) {
    let images = skiff.root().join("images");
    for sub in ["blobs/sha256", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(images.join(sub))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {sub}: {left:?}");
    }
    let unpacked: Vec<_> = std::fs::read_dir(images.join("unpacked"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(unpacked.is_empty(), "left extracted: {unpacked:?}");
    skiff.run(&["images"]).success().stdout_lacks("hostile");
}

#[test]
fn files_layer_links_and_escapes_are_refused() {
    use tar::EntryType::{Block, Char, Directory, Fifo, Link, Regular, Symlink};
    let honest = Layout::honest();
    let dir = |name| entry(name, Directory);
    let cases: Vec<(&str, Vec<Entry>, &str)> = vec![
        // The issue's reproduction: `/data` of the guest would be the host's `/`.
        (
            "symlink to the host's root",
            vec![Entry {
                link: "/",
                ..entry("data", Symlink)
            }],
            "entry `data` is a symbolic link",
        ),
        (
            "relative symlink out of the layer",
            vec![
                dir("data/"),
                Entry {
                    link: "../../../../../../etc",
                    ..entry("data/etc", Symlink)
                },
            ],
            "entry `data/etc` is a symbolic link",
        ),
        (
            "hard link to a host file",
            vec![
                dir("data/"),
                Entry {
                    link: "/etc/hostname",
                    ..entry("data/hostname", Link)
                },
            ],
            "entry `data/hostname` is a hard link",
        ),
        (
            "absolute path",
            vec![dir("data/"), entry("/tmp/skiff-hostile-absolute", Regular)],
            "entry `/tmp/skiff-hostile-absolute` is not a relative path",
        ),
        (
            "parent directory",
            vec![
                dir("data/"),
                entry("data/../../skiff-hostile-parent", Regular),
            ],
            "entry `data/../../skiff-hostile-parent` is not a relative path",
        ),
        (
            "character device",
            vec![dir("data/"), entry("data/null", Char)],
            "entry `data/null` is a device file",
        ),
        (
            "block device",
            vec![dir("data/"), entry("data/sda", Block)],
            "entry `data/sda` is a device file",
        ),
        (
            "fifo",
            vec![dir("data/"), entry("data/pipe", Fifo)],
            "entry `data/pipe` is a FIFO",
        ),
        (
            "the same path twice",
            vec![
                dir("data/"),
                Entry {
                    data: b"one",
                    ..entry("data/a.txt", Regular)
                },
                Entry {
                    data: b"two",
                    ..entry("data/a.txt", Regular)
                },
            ],
            "cannot extract `data/a.txt`",
        ),
    ];
    for (what, entries, message) in cases {
        let mut layout = Layout {
            blobs: honest.blobs.clone(),
            index: honest.index.clone(),
        };
        layout.replace_layer(FILES, tar_of(&entries));
        let (skiff, out) = layout.load();
        assert_eq!(out.code, 125, "{what}: {out:#?}");
        assert!(out.stderr.contains("the files layer"), "{what}: {out:#?}");
        assert!(out.stderr.contains(message), "{what}: {out:#?}");
        nothing_kept(&skiff);
    }
    assert!(!Path::new("/tmp/skiff-hostile-absolute").exists());
}

#[test]
fn files_keep_their_content_but_lose_setuid_bits() {
    let mut layout = Layout::honest();
    layout.replace_layer(
        FILES,
        tar_of(&[
            entry("data/", tar::EntryType::Directory),
            Entry {
                mode: 0o6755,
                data: b"#!/bin/sh\n",
                ..entry("data/tool", tar::EntryType::Regular)
            },
            Entry {
                data: b"packaged\n",
                ..entry("data/hello.txt", tar::EntryType::Regular)
            },
        ]),
    );
    let (skiff, out) = layout.load();
    out.success();
    skiff
        .run(&["run", "hostile:1.0", "/data/hello.txt"])
        .success()
        .stdout_is("packaged\n");
    let unpacked = std::fs::read_dir(skiff.root().join("images/unpacked"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mode = std::fs::metadata(unpacked.join("data/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755, "mode {mode:o}");
}

#[test]
fn descriptors_with_bad_digests_are_refused() {
    let honest = Layout::honest();
    let bad_digests = [
        "/",
        "sha256:../../../../../../etc",
        &format!("sha256:{}", "AB".repeat(32)),
        "sha512:00",
    ];
    // The config, the Wasm layer, the app config layer, the files layer.
    let slots = ["/config", "/layers/0", "/layers/1", "/layers/2"];
    for slot in slots {
        for bad in bad_digests {
            let mut layout = Layout {
                blobs: honest.blobs.clone(),
                index: honest.index.clone(),
            };
            let mut manifest = layout.manifest();
            manifest.pointer_mut(slot).unwrap()["digest"] = json!(bad);
            layout.set_manifest(&manifest);
            let (skiff, out) = layout.load();
            out.code(125)
                .stderr_has(&format!("descriptor whose digest `{bad}` is not `sha256:`"));
            nothing_kept(&skiff);
        }
    }
    // The index's own entry.
    let mut layout = Layout {
        blobs: honest.blobs.clone(),
        index: honest.index.clone(),
    };
    layout.index["manifests"][0]["digest"] = json!("sha256:../../refs.json");
    let (skiff, out) = layout.load();
    out.code(125).stderr_has("is not a sha256 digest");
    nothing_kept(&skiff);
}

/// Only a user grants the host's whole network (`--network host`): an app config that declares
/// it is refused, so `--network image` can never accept it.
#[test]
fn an_image_cannot_declare_the_hosts_network() {
    let mut layout = Layout::honest();
    let manifest = layout.manifest();
    let config = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == "application/vnd.skiff.app.config.v1+json")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mut app: Value = serde_json::from_slice(&layout.blobs[&config]).unwrap();
    app["network"] = json!("host");
    layout.replace_layer(
        "application/vnd.skiff.app.config.v1+json",
        serde_json::to_vec(&app).unwrap(),
    );
    let (skiff, out) = layout.load();
    let refused = "not the host's whole network (`host`): only `skiff run --network host` grants";
    out.code(125).stderr_has(refused);
    nothing_kept(&skiff);
}

#[test]
fn sizes_that_disagree_or_are_absurd_are_refused() {
    let honest = Layout::honest();
    for size in [json!(1u64 << 50), json!(-1), json!(3)] {
        let mut layout = Layout {
            blobs: honest.blobs.clone(),
            index: honest.index.clone(),
        };
        let mut manifest = layout.manifest();
        manifest["layers"][0]["size"] = size.clone();
        layout.set_manifest(&manifest);
        let (skiff, out) = layout.load();
        out.code(125)
            .stderr_has(&format!("to be {size} bytes, but it is"));
        nothing_kept(&skiff);
    }

    // A 100 MB manifest: a valid one padded with whitespace.
    let mut layout = Layout {
        blobs: honest.blobs.clone(),
        index: honest.index.clone(),
    };
    let mut bytes = serde_json::to_vec(&layout.manifest()).unwrap();
    bytes.resize(100 << 20, b' ');
    layout.set_manifest_bytes(bytes);
    let (skiff, out) = layout.load();
    out.code(125)
        .stderr_has("more than the 4194304-byte limit for a manifest");
    nothing_kept(&skiff);

    // An index.json over the limit.
    let mut layout = Layout {
        blobs: honest.blobs.clone(),
        index: honest.index.clone(),
    };
    layout.index["annotations"] = json!({ "padding": "x".repeat(5 << 20) });
    let (skiff, out) = layout.load();
    out.code(125)
        .stderr_has("`index.json` is larger than the 4 MiB limit");
    nothing_kept(&skiff);
}

/// A gzipped tar layer (a few MB) of `entries`: a name and either that many zero bytes or a
/// real Wasm file.
fn bomb_layer(entries: &[(&str, Option<u64>)]) -> Vec<u8> {
    let wasm = std::fs::read(P1_CLI_ENV).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(&mut gz);
    for (name, zeros) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(zeros.unwrap_or(wasm.len() as u64));
        header.set_mode(0o644);
        header.set_cksum();
        match zeros {
            Some(n) => tar.append_data(&mut header, name, std::io::repeat(0).take(*n)),
            None => tar.append_data(&mut header, name, &wasm[..]),
        }
        .unwrap();
    }
    tar.finish().unwrap();
    drop(tar);
    gz.finish().unwrap()
}

#[test]
fn decompression_bombs_are_refused() {
    let big = (1 << 30) + (64 << 20);
    // Zeros to wade through before the Wasm; and the "Wasm" itself a gigabyte of zeros.
    bomb(
        bomb_layer(&[("pad.bin", Some(big)), ("app.wasm", None)]),
        "decompresses to more than",
    );
    bomb(
        bomb_layer(&[("app.wasm", Some(big))]),
        "more than the 1073741824-byte limit for a Wasm file",
    );
}

/// Loads a compat image whose only layer is `layer`; expects the refusal `message`.
fn bomb(layer: Vec<u8>, message: &str) {
    assert!(layer.len() < 16 << 20, "{}", layer.len());
    let config = br#"{"architecture":"wasm","os":"wasip1","config":{"Entrypoint":["/app.wasm"]}}"#;
    let mut layout = Layout {
        blobs: BTreeMap::new(),
        index: json!({"schemaVersion": 2, "manifests": [{}]}),
    };
    let config_digest = skiff_image::digest_of(config);
    let layer_digest = skiff_image::digest_of(&layer);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    });
    layout.blobs.insert(config_digest, config.to_vec());
    layout.blobs.insert(layer_digest, layer);
    layout.set_manifest(&manifest);
    layout.index["manifests"][0]["annotations"] =
        json!({"io.containerd.image.name": "docker.io/library/hostile:1.0"});
    let (skiff, out) = layout.load();
    out.code(125).stderr_has(message);
    nothing_kept(&skiff);
}

/// Pushes `layout`'s blobs and manifest to `registry` as `repo:1`.
fn push_layout(registry: &Registry, repo: &str, layout: &Layout) {
    for bytes in layout.blobs.values() {
        crate::images::push_blob(registry, repo, bytes);
    }
    crate::images::push_manifest(registry, repo, "1", &layout.manifest());
}

#[test]
fn hostile_images_from_a_registry_are_refused_and_the_daemon_keeps_serving() {
    let registry = Registry::start();
    let mut symlink = Layout::honest();
    symlink.replace_layer(
        FILES,
        tar_of(&[Entry {
            link: "/",
            ..entry("data", tar::EntryType::Symlink)
        }]),
    );
    push_layout(&registry, "hostile/symlink", &symlink);

    // A layer declaring more bytes than Skiff accepts: refused before anything is fetched.
    let mut huge = Layout::honest();
    let mut manifest = huge.manifest();
    manifest["layers"][0]["size"] = json!(1u64 << 40);
    huge.set_manifest(&manifest);
    push_layout(&registry, "hostile/huge", &huge);

    let skiff = Skiff::new();
    skiff
        .run(&["pull", &registry.url("hostile/symlink:1")])
        .code(125)
        .stderr_has("entry `data` is a symbolic link");
    nothing_kept(&skiff);
    skiff
        .run(&["pull", &registry.url("hostile/huge:1")])
        .code(125)
        .stderr_has("more than the 1073741824-byte limit");
    nothing_kept(&skiff);

    // The daemon pulls them too, refuses them, and its other apps keep running.
    let daemon = Daemon::start();
    daemon.run_d("neighbour", &[P2_CLI_HELLO]).success();
    for (name, repo) in [("a", "hostile/symlink:1"), ("b", "hostile/huge:1")] {
        let out = daemon.run_d(name, &[&registry.url(repo), "/data/etc/hostname"]);
        assert_eq!(out.code, 125, "{out:#?}");
        assert!(!out.stdout.contains(&hostname()), "{out:#?}");
    }
    daemon
        .run(&["logs", "neighbour"])
        .success()
        .stdout_has("Hello, world!");
    daemon.run(&["ps", "-a"]).success().stdout_has("neighbour");
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn load_reports_a_replaced_name_and_prune_removes_unused_extractions() {
    let skiff = Skiff::new();
    let honest = Layout::honest();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.tar");
    honest.write(&first);
    skiff.run(&["load", "-i", path_str(&first)]).success();
    let old = honest.index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();

    // Another image under the same name: loaded, and the user is told the name moved.
    let mut other = Layout {
        blobs: honest.blobs.clone(),
        index: honest.index.clone(),
    };
    other.replace_layer(
        FILES,
        tar_of(&[
            entry("data/", tar::EntryType::Directory),
            Entry {
                data: b"other\n",
                ..entry("data/hello.txt", tar::EntryType::Regular)
            },
        ]),
    );
    let second = dir.path().join("second.tar");
    other.write(&second);
    skiff
        .run(&["load", "-i", path_str(&second)])
        .success()
        .stdout_has("Loaded image: hostile:1.0")
        .stderr_has(&format!("already existed as {}", &old[..19]))
        .stderr_has("the old image is untagged");
    skiff
        .run(&["run", "hostile:1.0", "/data/hello.txt"])
        .success()
        .stdout_is("other\n");

    // Two extracted layers; prune keeps only the one a name reaches.
    let unpacked = |skiff: &Skiff| -> Vec<PathBuf> {
        std::fs::read_dir(skiff.root().join("images/unpacked"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    assert_eq!(unpacked(&skiff).len(), 2);
    skiff.run(&["image", "prune"]).success();
    assert_eq!(unpacked(&skiff).len(), 1);
    skiff
        .run(&["run", "hostile:1.0", "/data/hello.txt"])
        .success()
        .stdout_is("other\n");
}

/// A layout of Spin apps (`spin registry push`'s form), each of one component of `wasm` whose
/// locked app lists `files` (path, content digest, inline base64 or none) and whose data layers
/// are `data`; then an image of `extra` layers, if any.
fn spin_layout(
    files: &[(&str, &str, Option<&str>)],
    data: &[&[u8]],
    extra: &[(&str, &[u8])],
) -> Layout {
    let mut blobs = BTreeMap::new();
    let mut put = |bytes: &[u8]| {
        let digest = skiff_image::digest_of(bytes);
        blobs.insert(digest.clone(), bytes.to_vec());
        json!({"digest": digest, "size": bytes.len()})
    };
    let typed = |mut d: Value, media_type: &str| {
        d["mediaType"] = json!(media_type);
        d
    };
    let wasm = std::fs::read(P2_CLI_HELLO).unwrap();
    let files: Vec<Value> = files
        .iter()
        .map(|(path, digest, inline)| match inline {
            Some(inline) => json!({"path": path, "digest": digest, "inline": inline}),
            None => json!({"path": path, "digest": digest}),
        })
        .collect();
    let locked = json!({"spin_lock_version": 1, "triggers": [], "components": [{
        "id": "site", "files": files,
        "source": {"content_type": "application/wasm", "digest": skiff_image::digest_of(&wasm)},
    }]});
    let config = typed(
        put(br#"{"architecture":"wasm","os":"wasip1"}"#),
        "application/vnd.oci.image.config.v1+json",
    );
    let mut layers = vec![typed(
        put(&wasm),
        "application/vnd.wasm.content.layer.v1+wasm",
    )];
    for bytes in data {
        layers.push(typed(
            put(bytes),
            "application/vnd.wasm.content.layer.v1+data",
        ));
    }
    layers.push(typed(
        put(locked.to_string().as_bytes()),
        "application/vnd.fermyon.spin.application.v1+config",
    ));
    let extra: Vec<Value> = extra.iter().map(|(t, b)| typed(put(b), t)).collect();
    let mut manifests = Vec::new();
    let mut manifest = |layers: Vec<Value>, name: &str| {
        let bytes = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config.clone(),
            "layers": layers,
        }))
        .unwrap();
        let mut d = typed(put(&bytes), "application/vnd.oci.image.manifest.v1+json");
        d["annotations"] = json!({"io.containerd.image.name": name});
        manifests.push(d);
    };
    manifest(layers, "hostile/spin:1");
    if !extra.is_empty() {
        manifest(extra, "hostile/other:1");
    }
    Layout {
        blobs,
        index: json!({"schemaVersion": 2, "manifests": manifests}),
    }
}

#[test]
fn spin_files_are_checked_and_a_refused_load_keeps_none_of_them() {
    let page: &[u8] = b"<p>a page of a Spin app, in a data layer of its own</p>\n";
    let digest = skiff_image::digest_of(page);
    // A path out of the component's root, and content that is not what the locked app says.
    for (files, data, message) in [
        (
            vec![("../../etc/passwd", digest.as_str(), None)],
            vec![page],
            "file path `../../etc/passwd` is not relative names",
        ),
        (
            vec![("/etc/passwd", digest.as_str(), None)],
            vec![page],
            "file path `/etc/passwd` is not relative names",
        ),
        (
            vec![("tiny.txt", digest.as_str(), Some("dGlueQo="))],
            vec![],
            "file `tiny.txt` does not match its digest",
        ),
        (
            vec![("gone.txt", digest.as_str(), None)],
            vec![],
            "file `gone.txt` (sha256:",
        ),
    ] {
        let (skiff, out) = spin_layout(&files, &data, &[]).load();
        out.code(125).stderr_has(message);
        nothing_kept(&skiff);
    }
    // A Spin app whose files were stored and extracted while the load checked it, then an image
    // of the same layout that is refused: the load keeps nothing, its files neither.
    let layout = spin_layout(
        &[("static/index.html", digest.as_str(), None)],
        &[page],
        &[("application/octet-stream", b"not wasm")],
    );
    let (skiff, out) = layout.load();
    out.code(125).stderr_has("holds no WebAssembly");
    nothing_kept(&skiff);
    // Alone, it loads and runs with its file.
    let mut layout = spin_layout(
        &[("static/index.html", digest.as_str(), None)],
        &[page],
        &[],
    );
    layout.index["manifests"][0]["annotations"] =
        json!({"io.containerd.image.name": "spin/site:1"});
    let (skiff, out) = layout.load();
    out.success();
    skiff.run(&["system", "check"]).success();
}
