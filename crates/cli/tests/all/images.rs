//! Images end to end: `skiff build`, the local store, and a real registry process.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use skiff_test_programs_artifacts::{
    P1_CLI_ARGS, P1_CLI_ENV, P2_CLI_ENV, P2_CLI_HELLO, P2_CLI_READ_FILE, P2_CONFIG, P2_HTTP_ENV,
    P2_HTTP_GET, P2_HTTP_HELLO, P2_HTTP_OUTBOUND, P2_HTTP_SPIN_HEADERS, P2_HTTP_SPIN_KV,
    P2_HTTP_SPIN_SQL, SPIN_SDK_HTTP, SPIN_SDK_HTTP_P1, SPIN_SDK_REDIS, SPIN_SDK_REDIS_P1,
    SPIN_SDK7_HTTP, SPIN_SDK7_REDIS, SPIN1_HTTP_P1, SPIN1_REDIS_P1,
};

use crate::registry::{Registry, Response};
use crate::support::{Skiff, app_dir, build_reader_with_files, path_str};

fn build(skiff: &Skiff, dir: &Path, tag: &str) -> String {
    let out = skiff.run(&["build", "-t", tag, path_str(dir)]);
    out.success();
    out.stdout.trim().to_string()
}

fn blobs(skiff: &Skiff) -> Vec<PathBuf> {
    std::fs::read_dir(skiff.root().join("images/blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn build_and_run_from_the_store() {
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    let digest = build(&skiff, app.path(), "hello:1.0");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let images = skiff.run(&["images"]);
    images.success().stdout_has("hello").stdout_has("1.0");
    // The names alone, for scripts (`skiff rmi $(skiff images -q)`).
    skiff
        .run(&["images", "-q"])
        .success()
        .stdout_is("hello:1.0\n");
    skiff
        .run(&["run", "hello:1.0", "--name", "Ada"])
        .success()
        .stdout_is("Hello, Ada!\n");
    // By digest prefix, as docker accepts image IDs.
    skiff
        .run(&["run", &digest["sha256:".len().."sha256:".len() + 12]])
        .success()
        .stdout_is("Hello, world!\n");
    let inspect = skiff.run(&["inspect", "--format", "json", "hello:1.0"]);
    inspect.success();
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(
        json["manifest"]["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(
        json["manifest"]["layers"][0]["mediaType"],
        "application/wasm"
    );
    assert_eq!(json["config"]["os"], "wasip2");
    assert_eq!(json["app"]["name"], "hello");
}

#[test]
fn builds_are_reproducible() {
    let files = "[[files]]\nsource = \"static\"\ndestination = \"/srv\"\n";
    let extra = [("static/a.txt", "a"), ("static/sub/b.txt", "b")];
    let first = app_dir(P2_CLI_HELLO, files, &extra);
    let second = app_dir(P2_CLI_HELLO, files, &extra);
    // Different mtimes and paths must not change the digest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(second.path().join("static/a.txt"), "a").unwrap();
    let one = build(&Skiff::new(), first.path(), "hello:1.0");
    let two = build(&Skiff::new(), second.path(), "other:2.0");
    assert_eq!(one, two);
    // A changed input changes it.
    std::fs::write(second.path().join("static/a.txt"), "changed").unwrap();
    assert_ne!(one, build(&Skiff::new(), second.path(), "other:2.0"));
}

#[test]
fn image_defaults_and_flags() {
    let skiff = Skiff::new();
    let env = "[env]\nFROM_IMAGE = \"1\"\nOVERRIDE = \"image\"\n";
    let app = app_dir(P1_CLI_ENV, env, &[]);
    build(&skiff, app.path(), "env:1");
    skiff
        .run(&["run", "-e", "OVERRIDE=flag", "-e", "EXTRA=x", "env:1"])
        .success()
        .stdout_is("EXTRA=x\nFROM_IMAGE=1\nOVERRIDE=flag\n");

    let files = "[[files]]\nsource = \"static\"\ndestination = \"/srv/www\"\n";
    let app = app_dir(
        P2_CLI_READ_FILE,
        files,
        &[("static/index.html", "<h1>packaged</h1>")],
    );
    build(&skiff, app.path(), "files:1");
    skiff
        .run(&["run", "files:1", "/srv/www/index.html"])
        .success()
        .stdout_is("<h1>packaged</h1>");
}

/// An image declares the destinations it needs; they apply only when the user accepts them with
/// `--network image`, in the foreground and in the daemon alike.
#[test]
fn image_network_applies_only_when_accepted() {
    let addr = crate::programs::http_upstream();
    let url = format!("http://{addr}/x");
    let daemon = crate::daemon::Daemon::start();
    let skiff = &daemon.skiff;
    let app = app_dir(
        P2_HTTP_GET,
        &format!("[grants]\nnetwork = [\"{addr}\"]\n"),
        &[],
    );
    build(skiff, app.path(), "fetch:1");
    let notice = format!(
        "note: the image asks for network access to {addr}, not granted; accept it with \
         `--network image`"
    );
    // Declared but not accepted: no egress at all, and one line says what to do.
    skiff
        .run(&["run", "fetch:1", &url])
        .code(1)
        .stderr_has("request failed: ErrorCode::HttpRequestDenied")
        .stderr_has(&notice);
    // A grant of the user's own does not accept the image's either.
    skiff
        .run(&["run", "--network", "allow=192.0.2.1:443", "fetch:1", &url])
        .code(1)
        .stderr_has(&notice);
    skiff
        .run(&["run", "--network", "image", "fetch:1", &url])
        .success()
        .stdout_is("status 200\nhi\n")
        .stderr_lacks("note:");
    skiff
        .run(&[
            "run",
            "--network",
            "image,allow=192.0.2.1:443",
            "fetch:1",
            &url,
        ])
        .success()
        .stdout_is("status 200\nhi\n");
    // `inspect` shows what the image asks for, and that it is not granted by itself.
    skiff
        .run(&["inspect", "fetch:1"])
        .success()
        .stdout_has(&format!(
            "Network:  allow={addr} (applies with `--network image`)"
        ));

    // The daemon applies the same rule to `run -d`.
    daemon.run_d("plain", &["fetch:1", &url]).success();
    daemon
        .run_d("accepted", &["--network", "image", "fetch:1", &url])
        .success();
    let plain = daemon.wait_for("plain", "exit", |a| a["exits"][0]["code"] == 1);
    assert_eq!(plain["grants"]["network"], "none", "{plain:#}");
    let accepted = daemon.wait_for("accepted", "exit", |a| a["exits"][0]["code"] == 0);
    assert_eq!(
        accepted["grants"]["network"]["allow"][0]["host"], "127.0.0.1",
        "{accepted:#}"
    );
    daemon.run(&["logs", "plain"]).success().stderr_has(&notice);
}

#[test]
fn push_rmi_pull_run_round_trip() {
    let registry = Registry::start();
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    let digest = build(&skiff, app.path(), "hello:1.0");
    let remote = registry.url("team/hello:1.0");
    skiff.run(&["tag", "hello:1.0", &remote]).success();
    skiff.run(&["push", &remote]).success();
    assert!(registry.manifest_exists("team/hello", "1.0"));
    assert!(registry.manifest_exists("team/hello", &digest));
    // A second push skips every blob: the registry already has them all.
    let inspect = skiff.run(&["inspect", "--format", "json", "hello:1.0"]);
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    let blob_count = 1 + json["manifest"]["layers"].as_array().unwrap().len();
    let again = skiff.run(&["push", &remote]);
    again.success();
    assert_eq!(
        again.stderr.matches(": already exists").count(),
        blob_count,
        "{again:#?}"
    );
    assert!(!again.stderr.contains(": pushed"), "{again:#?}");

    // `-f`, as Docker scripts give it, is taken.
    skiff.run(&["rmi", "-f", "hello:1.0", &remote]).success();
    assert!(
        blobs(&skiff).is_empty(),
        "rmi left blobs: {:?}",
        blobs(&skiff)
    );
    skiff.run(&["run", "hello:1.0"]).code(125);

    let pulled = skiff.run(&["pull", &remote]);
    pulled.success();
    assert_eq!(pulled.stdout.trim(), digest);
    skiff
        .run(&["run", &remote, "--name", "Ada"])
        .success()
        .stdout_is("Hello, Ada!\n");
    // Docker's `images` flags: the whole digest with `--no-trunc`; `--digests` and `-a` taken.
    skiff
        .run(&["images", "--no-trunc", "--digests", "-a"])
        .success()
        .stdout_has(&format!("  {digest}  "));
    skiff
        .run(&["images"])
        .success()
        .stdout_has(&format!("  {}  ", &digest[..19]))
        .stdout_lacks(&digest);

    // A fresh store pulls on `run`, as `docker run` does, and by digest too.
    let other = Skiff::new();
    other
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n")
        .stderr_has("Unable to find image");
    Skiff::new()
        .run(&["pull", &format!("{}/team/hello@{digest}", registry.addr)])
        .success();
}

#[test]
fn login_and_auth() {
    let registry = Registry::start_with_auth("ci", "s3cret");
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    build(&skiff, app.path(), "hello:1.0");
    let remote = registry.url("team/hello:1.0");
    skiff.run(&["tag", "hello:1.0", &remote]).success();

    skiff
        .run(&["push", &remote])
        .code(125)
        .stderr_has("refused the credentials")
        .stderr_has("skiff login");
    let login = |password: &str, flags: &[&str]| {
        skiff.run_with(
            skiff
                .command()
                .args(["login", &registry.addr, "-u", "ci"])
                .args(flags),
            format!("{password}\n").as_bytes(),
        )
    };
    login("wrong", &[])
        .code(125)
        .stderr_has("refused the credentials");
    assert!(!skiff.root().join("auth.json").exists());
    // Docker's form, as CI scripts write it.
    login("s3cret", &["--password-stdin"]).success();
    let mode = std::os::unix::fs::MetadataExt::mode(
        &std::fs::metadata(skiff.root().join("auth.json")).unwrap(),
    );
    assert_eq!(mode & 0o777, 0o600);

    skiff.run(&["push", &remote]).success();
    skiff.run(&["rmi", &remote, "hello:1.0"]).success();
    skiff.run(&["pull", &remote]).success();
    skiff
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n");
}

/// A registry on loopback that speaks only HTTPS, with a certificate no authority vouches for:
/// as Docker treats a registry on this machine, HTTPS is tried first, its certificate not checked.
#[test]
fn a_loopback_registry_over_https() {
    let registry = Registry::start_tls_with_auth("ci", "s3cret");
    let remote = registry.url("team/hello:1.0");
    let login = |skiff: &Skiff| {
        skiff
            .run_with(
                skiff
                    .command()
                    .args(["login", &registry.addr, "-u", "ci", "--password-stdin"]),
                b"s3cret\n",
            )
            .success();
    };
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    build(&skiff, app.path(), "hello:1.0");
    skiff.run(&["tag", "hello:1.0", &remote]).success();
    login(&skiff);
    skiff.run(&["push", &remote]).success();

    let other = Skiff::new();
    login(&other);
    other
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n");
}

/// `skiff login` to something that answers HTTP but is no registry stores no credentials.
#[test]
fn login_to_a_server_that_is_no_registry_stores_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot here\n",
            );
        }
    });
    let skiff = Skiff::new();
    skiff
        .run_with(skiff.command().args(["login", &addr, "-u", "ci"]), b"pw\n")
        .code(125)
        .stderr_has(&format!("`{addr}` did not answer as an OCI registry"))
        .stderr_has("code: 404");
    assert!(!skiff.root().join("auth.json").exists());
}

#[test]
fn save_and_load() {
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    let digest = build(&skiff, app.path(), "hello:1.0");
    let archive = tempfile::tempdir().unwrap();
    let tar = archive.path().join("hello.tar");
    skiff
        .run(&["save", "hello:1.0", "-o", path_str(&tar)])
        .success();

    let other = Skiff::new();
    other
        .run(&["load", "-i", path_str(&tar)])
        .success()
        .stdout_has("hello:1.0");
    other
        .run(&["run", "hello:1.0"])
        .success()
        .stdout_is("Hello, world!\n");
    let images = other.run(&["images", "--format", "json"]);
    assert!(images.stdout.contains(&digest), "{images:#?}");

    // A tampered archive is refused and leaves nothing behind.
    let mut bytes = std::fs::read(&tar).unwrap();
    let pos = bytes.windows(5).rposition(|w| w == b"Hello").unwrap();
    bytes[pos] = b'J';
    let bad = archive.path().join("bad.tar");
    std::fs::write(&bad, bytes).unwrap();
    let third = Skiff::new();
    third
        .run(&["load", "-i", path_str(&bad)])
        .code(125)
        .stderr_has("corrupt");
    assert!(blobs(&third).is_empty());
    third.run(&["images"]).success().stdout_lacks("hello");

    // Compressed, as `docker save IMAGE | gzip` writes it (from a file or stdin), or zstd; xz
    // and bzip2 are refused, saying how to decompress them.
    let plain = std::fs::read(&tar).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&plain).unwrap();
    let gzip = gzip.finish().unwrap();
    let zstd =
        ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    for (name, bytes) in [("hello.tar.gz", &gzip), ("hello.tar.zst", &zstd)] {
        let file = archive.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let fresh = Skiff::new();
        fresh
            .run(&["load", "-i", path_str(&file)])
            .success()
            .stdout_has("Loaded image: hello:1.0");
        fresh
            .run(&["run", "hello:1.0"])
            .success()
            .stdout_is("Hello, world!\n");
    }
    let fresh = Skiff::new();
    fresh
        .run_with(fresh.command().arg("load"), &gzip)
        .success()
        .stdout_has("hello:1.0");
    let mut xz = b"\xfd7zXZ\0".to_vec();
    xz.extend_from_slice(&plain[..512]);
    fresh
        .run_with(fresh.command().arg("load"), &xz)
        .code(125)
        .stderr_has("the archive is xz-compressed")
        .stderr_has("xz -d < FILE | skiff load");
}

#[test]
fn corrupt_blob_is_reported_not_run() {
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    build(&skiff, app.path(), "hello:1.0");
    let wasm_digest = skiff_image_layer(&skiff);
    let path = skiff.root().join("images/blobs/sha256").join(&wasm_digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    skiff
        .run(&["run", "hello:1.0"])
        .code(125)
        .stderr_has("is corrupt");
}

fn skiff_image_layer(skiff: &Skiff) -> String {
    let inspect = skiff.run(&["inspect", "--format", "json", "hello:1.0"]);
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    json["manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string()
}

#[test]
fn bad_inputs() {
    let skiff = Skiff::new();
    let empty = tempfile::tempdir().unwrap();
    skiff
        .run(&["build", path_str(empty.path())])
        .code(125)
        .stderr_has("skiff.toml")
        .stderr_has("hint:");
    let app = app_dir(P2_CLI_HELLO, "[limits]\nmemory = \"lots\"\n", &[]);
    skiff
        .run(&["build", path_str(app.path())])
        .code(125)
        .stderr_has("skiff.toml:10:10: invalid size `lots`")
        .stderr_has("lots");
    skiff
        .run(&["build", "-t", "Not A Name", path_str(app.path())])
        .code(125)
        .stderr_has("invalid image reference");
    skiff
        .run(&["pull", "127.0.0.1:1/team/hello:1.0"])
        .code(125)
        .stderr_has("cannot reach the registry `127.0.0.1:1`");
    skiff
        .run(&["inspect", "nope:1.0"])
        .code(125)
        .stderr_has("no image `nope:1.0`");
    assert!(blobs(&skiff).is_empty());
}

/// Pushes a blob through the raw registry API; returns its digest.
pub(crate) fn push_blob(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let digest = skiff_image::digest_of(bytes);
    let start: Response = registry.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
    assert_eq!(start.status, 202, "{}", start.text());
    let location = start.header("location").unwrap().to_string();
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = registry.request(
        "PUT",
        &format!("{location}{sep}digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    );
    assert_eq!(put.status, 201, "{}", put.text());
    digest
}

/// Pushes a manifest or index as `repo:tag` (a tag or a digest), typed by its own `mediaType`
/// (an OCI manifest when it has none, an OCI index when it lists `manifests`); returns its digest.
pub(crate) fn push_manifest(
    registry: &Registry,
    repo: &str,
    tag: &str,
    manifest: &serde_json::Value,
) -> String {
    let body = serde_json::to_vec(manifest).unwrap();
    let content_type = match manifest["mediaType"].as_str() {
        Some(media_type) => media_type,
        None if manifest.get("manifests").is_some() => "application/vnd.oci.image.index.v1+json",
        None => "application/vnd.oci.image.manifest.v1+json",
    };
    let put = registry.request(
        "PUT",
        &format!("/v2/{repo}/manifests/{tag}"),
        &[("Content-Type", content_type)],
        &body,
    );
    assert_eq!(put.status, 201, "{}", put.text());
    skiff_image::digest_of(&body)
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": digest, "size": size})
}

/// Pushes `config` and one `layer` to `repo`, each typed as given; returns their OCI manifest
/// (pushed by the caller, who may add to it).
fn one_layer(
    registry: &Registry,
    repo: &str,
    (config_type, config): (&str, &[u8]),
    (layer_type, layer): (&str, &[u8]),
) -> serde_json::Value {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(config_type, &push_blob(registry, repo, config), config.len()),
        "layers": [descriptor(layer_type, &push_blob(registry, repo, layer), layer.len())],
    })
}

#[test]
fn images_published_by_other_tools() {
    const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    let registry = Registry::start();
    let wasm = std::fs::read(P2_CLI_HELLO).unwrap();
    // (repository, manifest, arguments, greeting)
    let mut images = Vec::new();
    // runwasi's component layer.
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    let runwasi = (
        "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm",
        &wasm[..],
    );
    let manifest = one_layer(
        &registry,
        "others/runwasi",
        ("application/vnd.wasm.config.v0+json", config),
        runwasi,
    );
    images.push(("others/runwasi", manifest, "world"));
    // wasmCloud's (`wash push`).
    let config = ("application/vnd.wasmcloud.actor.archive.config", &b"{}"[..]);
    let wash = (
        "application/vnd.module.wasm.content.layer.v1+wasm",
        &wasm[..],
    );
    images.push((
        "others/wash",
        one_layer(&registry, "others/wash", config, wash),
        "world",
    ));
    // `oras push REF hello.wasm`: the file as a layer typed as an uncompressed tar, and OCI
    // 1.1's empty config.
    let config = ("application/vnd.oci.empty.v1+json", &b"{}"[..]);
    let file = ("application/vnd.oci.image.layer.v1.tar", &wasm[..]);
    let mut manifest = one_layer(&registry, "others/oras", config, file);
    manifest["artifactType"] = serde_json::json!("application/vnd.unknown.artifact.v1");
    manifest["layers"][0]["annotations"] =
        serde_json::json!({"org.opencontainers.image.title": "hello.wasm"});
    images.push(("others/oras", manifest, "world"));
    // The "compat" form: a tar layer holding the .wasm named by the image config's entrypoint,
    // plain, and zstd-compressed (`docker buildx ... --output type=image,compression=zstd`).
    let layer = tar_of(&[("app/hello.wasm", &wasm)]);
    let config = br#"{"architecture":"wasm","os":"wasip1","config":{"Entrypoint":["/app/hello.wasm"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let plain = ("application/vnd.oci.image.layer.v1.tar", &layer[..]);
    let manifest = one_layer(&registry, "others/compat", (OCI_CONFIG, config), plain);
    images.push(("others/compat", manifest, "crun"));
    let zstd =
        ruzstd::encoding::compress_to_vec(&layer[..], ruzstd::encoding::CompressionLevel::Fastest);
    let zstd = ("application/vnd.oci.image.layer.v1.tar+zstd", &zstd[..]);
    let manifest = one_layer(&registry, "others/zstd", (OCI_CONFIG, config), zstd);
    images.push(("others/zstd", manifest, "zstd"));

    for (repo, manifest, name) in images {
        push_manifest(&registry, repo, "1", &manifest);
        Skiff::new()
            .run(&["run", &registry.url(&format!("{repo}:1")), "--name", name])
            .success()
            .stdout_is(&format!("Hello, {name}!\n"));
    }

    // Not Wasm at all: refused, and nothing is left in the store.
    let text = ("application/octet-stream", &b"#!/bin/sh\necho hi\n"[..]);
    let manifest = one_layer(&registry, "others/notwasm", (OCI_CONFIG, b"{}"), text);
    push_manifest(&registry, "others/notwasm", "1", &manifest);
    let skiff = Skiff::new();
    skiff
        .run(&["pull", &registry.url("others/notwasm:1")])
        .code(125)
        .stderr_has("is not a WebAssembly image");
    assert!(blobs(&skiff).is_empty());
}

/// An index entry: a manifest of `media_type` by digest, for `platform` ("os/arch"), or none.
fn entry(media_type: &str, digest: &str, size: usize, platform: Option<&str>) -> serde_json::Value {
    let mut entry = descriptor(media_type, digest, size);
    if let Some((os, architecture)) = platform.and_then(|p| p.split_once('/')) {
        entry["platform"] = serde_json::json!({"os": os, "architecture": architecture});
    }
    entry
}

/// Pushes `manifest` by digest; returns the index entry for it.
fn push_entry(
    registry: &Registry,
    repo: &str,
    manifest: &serde_json::Value,
    platform: Option<&str>,
) -> serde_json::Value {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let (digest, size) = (skiff_image::digest_of(&bytes), bytes.len());
    push_manifest(registry, repo, &digest, manifest);
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json");
    entry(media_type, &digest, size, platform)
}

/// Multi-platform images as other tools publish them: `docker buildx --platform
/// linux/amd64,wasi/wasm` with Docker's media types (a manifest list, its Wasm entry a tar.gz
/// layer holding the `.wasm` its config's entrypoint names), an OCI index without the optional
/// `mediaType` whose first entry is a build attestation, and an index inside an OCI layout (as
/// `docker save` writes one). The Wasm entry is the one that runs; an index with no Wasm entry
/// is refused naming the platforms it has.
#[test]
fn multi_platform_images_run_their_wasm_entry() {
    use serde_json::json;
    const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    const DOCKER_TAR_GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    let registry = Registry::start();
    let repo = "others/multi";
    let wasm = std::fs::read(P2_CLI_HELLO).unwrap();

    // A Docker image of `files` (a tar.gz layer) and `config`, pushed; its entry for `platform`.
    let docker_image = |config: &[u8], files: &[(&str, &[u8])], platform: &str| {
        let layer = gzip_tar(files);
        let mut manifest = one_layer(
            &registry,
            repo,
            (DOCKER_CONFIG, config),
            (DOCKER_TAR_GZ, &layer),
        );
        manifest["mediaType"] = json!(DOCKER_MANIFEST);
        push_entry(&registry, repo, &manifest, Some(platform))
    };
    // linux/amd64: a shell script, not Wasm.
    let native_config = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/hello"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let native = docker_image(
        native_config,
        &[("bin/hello", b"#!/bin/sh\necho native\n")],
        "linux/amd64",
    );
    // wasi/wasm: `FROM scratch`, `COPY hello.wasm /`, `ENTRYPOINT ["/hello.wasm"]`.
    let wasm_config = br#"{"architecture":"wasm","os":"wasi","config":{"Entrypoint":["/hello.wasm"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let compat = docker_image(wasm_config, &[("hello.wasm", &wasm)], "wasi/wasm");
    push_manifest(
        &registry,
        repo,
        "list",
        &json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [native, compat]}),
    );
    Skiff::new()
        .run(&["run", &registry.url("others/multi:list"), "--name", "list"])
        .success()
        .stdout_is("Hello, list!\n");
    // Docker's Wasm command lines name the platform; only a Wasm one is taken.
    let list = registry.url("others/multi:list");
    Skiff::new()
        .run(&["run", "--platform", "wasi/wasm", &list, "--name", "p"])
        .success()
        .stdout_is("Hello, p!\n");
    Skiff::new()
        .run(&["pull", "--platform", "linux/amd64", &list])
        .code(125)
        .stderr_has("Skiff runs WebAssembly only");
    Skiff::new()
        .run(&["run", "--runtime=io.containerd.wasmedge.v1", &list])
        .code(125)
        .stderr_has("Skiff is the runtime");

    // An OCI index without `mediaType`, a build attestation first (BuildKit's form).
    let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#;
    let empty = b"{}";
    let attestation = one_layer(
        &registry,
        repo,
        ("application/vnd.oci.image.config.v1+json", empty),
        ("application/vnd.in-toto+json", statement),
    );
    let mut attestation = push_entry(&registry, repo, &attestation, Some("unknown/unknown"));
    attestation["annotations"] = json!({
        "vnd.docker.reference.type": "attestation-manifest",
        "vnd.docker.reference.digest": compat["digest"],
    });
    let component_config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    let component = one_layer(
        &registry,
        repo,
        ("application/vnd.wasm.config.v0+json", component_config),
        ("application/wasm", &wasm),
    );
    let component = push_entry(&registry, repo, &component, Some("wasip2/wasm"));
    let index = json!({"schemaVersion": 2, "manifests": [attestation.clone(), component.clone()]});
    push_manifest(&registry, repo, "oci", &index);
    Skiff::new()
        .run(&["run", &registry.url("others/multi:oci"), "--name", "oci"])
        .success()
        .stdout_is("Hello, oci!\n");

    // No Wasm entry: refused, naming what it has, and nothing is kept.
    push_manifest(
        &registry,
        repo,
        "native",
        &json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [native, attestation]}),
    );
    let skiff = Skiff::new();
    skiff
        .run(&["pull", &registry.url("others/multi:native")])
        .code(125)
        .stderr_has("linux/amd64")
        .stderr_has("wasi/wasm");
    assert!(blobs(&skiff).is_empty());

    // `docker save` of a multi-platform image: the layout's index.json names the image index.
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("saved.tar");
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let mut blobs_of_layout = vec![index_bytes.clone(), wasm.clone(), component_config.to_vec()];
    for entry in [&attestation, &component] {
        let digest = entry["digest"].as_str().unwrap();
        let hex = digest.trim_start_matches("sha256:");
        let manifest = registry.request(
            "GET",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
            b"",
        );
        assert_eq!(manifest.status, 200, "{hex}: {}", manifest.text());
        blobs_of_layout.push(manifest.body);
    }
    blobs_of_layout.extend([empty.to_vec(), statement.to_vec()]);
    let top = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": skiff_image::digest_of(&index_bytes), "size": index_bytes.len(),
        "annotations": {"io.containerd.image.name": "docker.io/library/multi:saved",
                        "org.opencontainers.image.ref.name": "saved"},
    }]});
    let digests: Vec<String> = blobs_of_layout
        .iter()
        .map(|b| skiff_image::digest_of(b))
        .collect();
    write_layout(
        &layout,
        &top,
        digests
            .iter()
            .map(String::as_str)
            .zip(blobs_of_layout.iter().map(Vec::as_slice)),
    );
    let skiff = Skiff::new();
    skiff
        .run(&["load", "-i", path_str(&layout)])
        .success()
        .stdout_has("multi:saved");
    skiff
        .run(&["run", "multi:saved", "--name", "saved"])
        .success()
        .stdout_is("Hello, saved!\n");
    skiff.run(&["system", "check"]).success();
}

/// A tar of regular files.
fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        tar.append_data(&mut header, name, *bytes).unwrap();
    }
    tar.into_inner().unwrap()
}

/// A gzipped tar of regular files.
fn gzip_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&tar_of(files)).unwrap();
    gzip.finish().unwrap()
}

/// An OCI image layout tar: `oci-layout`, `index.json` and the blobs, each under the digest given.
pub(crate) fn write_layout<'a>(
    path: &Path,
    index: &serde_json::Value,
    blobs: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) {
    let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add("index.json", &serde_json::to_vec(index).unwrap());
    for (digest, bytes) in blobs {
        add(
            &format!("blobs/sha256/{}", &digest["sha256:".len()..]),
            bytes,
        );
    }
    tar.into_inner().unwrap().flush().unwrap();
}

/// An image built by Docker (`FROM scratch`, `COPY`, `ENV`, `ENTRYPOINT`, `CMD`) runs as `docker
/// run` would run it: with its `Env` (a `-e` wins) and as arguments those after the program in
/// `Entrypoint`, then the run's own or else `Cmd`.
/// Pushes a Spin app as `spin registry push` lays it out: an OCI config, a Wasm layer per
/// component, a data layer per file (or an archive layer of them), and the locked app as a
/// layer of its own; `locked` names the Wasm as `{WASM}`.
fn push_spin_app(
    registry: &Registry,
    repo: &str,
    wasm: &[u8],
    data: &[(&str, &[u8])],
    locked: &str,
) -> String {
    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    let config = br#"{"architecture":"wasm","os":"wasip1","config":{}}"#;
    let mut layers = vec![descriptor(
        "application/vnd.wasm.content.layer.v1+wasm",
        &push_blob(registry, repo, wasm),
        wasm.len(),
    )];
    for (media_type, bytes) in data {
        layers.push(descriptor(
            media_type,
            &push_blob(registry, repo, bytes),
            bytes.len(),
        ));
    }
    let locked = locked.replace("{WASM}", &skiff_image::digest_of(wasm));
    layers.push(descriptor(
        "application/vnd.fermyon.spin.application.v1+config",
        &push_blob(registry, repo, locked.as_bytes()),
        locked.len(),
    ));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor(CONFIG, &push_blob(registry, repo, config), config.len()),
        "layers": layers,
    });
    push_manifest(registry, repo, "1", &manifest);
    registry.url(&format!("{repo}:1"))
}

#[test]
pub(crate) fn spin_apps_run_with_their_files_env_and_variables() {
    const DATA: &str = "application/vnd.wasm.content.layer.v1+data";
    const ARCHIVE: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
    let registry = Registry::start();
    let skiff = Skiff::new();
    // Files: one in a data layer, one inlined (Spin inlines up to 128 bytes), one in an
    // archive layer; all at `/` in the guest, read-only.
    let page = b"<h1>hello from a Spin data layer</h1>\n".repeat(8);
    let mut archive = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    archive
        .write_all(&tar_of(&[("logo.svg", b"<svg/>\n")]))
        .unwrap();
    let archive = archive.finish().unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
            "triggers":[{{"id":"t","trigger_type":"command","trigger_config":{{"component":"site"}}}}],
            "components":[{{"id":"site","source":{{"content_type":"application/wasm","digest":"{{WASM}}"}},
              "files":[{{"digest":"{page}","path":"static/index.html"}},
                       {{"inline":"dGlueQo=","digest":"{tiny}","path":"tiny.txt"}},
                       {{"digest":"{logo}","path":"static/logo.svg"}}]}}]}}"#,
        page = skiff_image::digest_of(&page),
        tiny = skiff_image::digest_of(b"tiny\n"),
        logo = skiff_image::digest_of(b"<svg/>\n"),
    );
    let image = push_spin_app(
        &registry,
        "spin/site",
        &std::fs::read(P2_CLI_READ_FILE).unwrap(),
        &[(DATA, &page), (ARCHIVE, &archive)],
        &locked,
    );
    skiff
        .run(&["run", &image, "/static/index.html"])
        .success()
        .stdout_is(std::str::from_utf8(&page).unwrap());
    skiff
        .run(&["run", &image, "tiny.txt"])
        .success()
        .stdout_is("tiny\n");
    skiff
        .run(&["run", &image, "/static/logo.svg"])
        .success()
        .stdout_is("<svg/>\n");
    // The files outlive a prune while the image is named, and are extracted again if removed.
    skiff.run(&["image", "prune"]).success();
    skiff.run(&["system", "check"]).success();
    skiff
        .run(&["run", &image, "tiny.txt"])
        .success()
        .stdout_is("tiny\n");

    // The component's environment, below `-e`; its hosts, declared (applied with `--network
    // image`); a template Skiff cannot grant by destination is said, not widened.
    let locked = r#"{"spin_lock_version":0,"triggers":[],"components":[{"id":"env",
        "metadata":{"allowed_outbound_hosts":["https://api.example.com","redis://cache.example.com:6379","rediss://tls.example.com","https://*.example.org"],
                    "allowed_http_hosts":["https://legacy.example.com","plain.example.net"]},
        "source":{"content_type":"application/wasm","digest":"{WASM}"},
        "env":{"GREETING":"hi","MODE":"spin"}}]}"#;
    let image = push_spin_app(
        &registry,
        "spin/env",
        &std::fs::read(P2_CLI_ENV).unwrap(),
        &[],
        locked,
    );
    skiff
        .run(&["run", "-e", "MODE=flag", &image])
        .success()
        .stdout_is("GREETING=hi\nMODE=flag\n");
    skiff
        .run(&["image", "inspect", &image])
        .success()
        .stdout_has("api.example.com:443")
        .stdout_has("cache.example.com:6379")
        // A scheme's own port where none is named, as Spin reads it.
        .stdout_has("tls.example.com:6379")
        .stdout_has("legacy.example.com:443")
        // Spin 1's HTTP hosts, whatever the scheme written (none here), over HTTP and HTTPS.
        .stdout_has("plain.example.net:80")
        .stdout_has("plain.example.net:443")
        .stdout_lacks("example.org");

    // `config`, as `wasi:config/store` answers it in Spin: templates over the variables, each
    // from the app's environment (`SPIN_VARIABLE_NAME`, as Spin's environment provider) or its
    // default; `-S config-var` gives a key's value.
    let locked = r#"{"spin_lock_version":1,"triggers":[],
        "variables":{"host":{"default":"example.com"},"token":{"secret":true}},
        "components":[{"id":"cfg","source":{"content_type":"application/wasm","digest":"{WASM}"},
        "config":{"api_url":"https://{{ host }}/v1","token":"{{ token }}"}}]}"#;
    let image = push_spin_app(
        &registry,
        "spin/config",
        &std::fs::read(P2_CONFIG).unwrap(),
        &[],
        locked,
    );
    skiff
        .run(&["run", &image])
        .success()
        .stdout_is("api_url=https://example.com/v1\n")
        .stderr_has("variable `token` has no value, so `token` has none: give it with `-e SPIN_VARIABLE_TOKEN=VALUE`");
    skiff
        .run(&["run", "-S", "config-var=token=s3cret", &image, "token"])
        .success()
        .stdout_is("api_url=https://example.com/v1\ntoken=s3cret\ntoken: s3cret\n")
        .stderr_lacks("no value");
    skiff
        .run(&[
            "run",
            "-e",
            "SPIN_VARIABLE_TOKEN=from-env",
            "-e",
            "SPIN_VARIABLE_HOST=example.net",
            &image,
        ])
        .success()
        .stdout_is("api_url=https://example.net/v1\ntoken=from-env\n");

    // A Spin HTTP component in the daemon gets Spin's headers too.
    let locked = r#"{"spin_lock_version":1,
        "triggers":[{"id":"a","trigger_type":"http","trigger_config":{"component":"api","route":"/api/..."}}],
        "components":[{"id":"api","source":{"content_type":"application/wasm","digest":"{WASM}"}}]}"#;
    let image = push_spin_app(
        &registry,
        "spin/api",
        &std::fs::read(P2_HTTP_SPIN_HEADERS).unwrap(),
        &[],
        locked,
    );
    let daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon.run_d("api", &["-p", &port, &image]).success();
    let (status, body) = crate::http::get(&format!("http://127.0.0.1:{port}/api/v1"));
    assert_eq!(status.as_u16(), 200, "{body}");
    assert!(body.contains("spin-path-info: /v1\n"), "{body}");
    // A Spin app of one component calls its own routes in-process too (`http://self/`).
    let locked = r#"{"spin_lock_version":1,
        "triggers":[{"id":"a","trigger_type":"http","trigger_config":{"component":"front","route":"/..."}}],
        "components":[{"id":"front","source":{"content_type":"application/wasm","digest":"{WASM}"},
            "metadata":{"allowed_outbound_hosts":["http://self"]}}]}"#;
    let outbound = std::fs::read(P2_HTTP_OUTBOUND).unwrap();
    let calls_itself = push_spin_app(&registry, "spin/self", &outbound, &[], locked);
    let port = crate::support::free_port().to_string();
    daemon
        .run_d("self", &["-p", &port, &calls_itself])
        .success();
    let response = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/a"))
        .header("x-target-url", "http://self/b")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body = response.text().unwrap();
    // The call reached the component again, which answered 400: no `x-target-url` of its own.
    assert!(body.starts_with("upstream 400: "), "{body}");
    drop(daemon);
    // `skiff serve` of it serves its route only, as `spin up` does.
    let server = crate::http::Server::start(&skiff, &[&image]);
    let (status, body) = crate::http::get(&server.url("/api/v1"));
    assert_eq!(status.as_u16(), 200, "{body}");
    assert!(body.contains("spin-path-info: /v1\n"), "{body}");
    let (status, _) = crate::http::get(&server.url("/elsewhere"));
    assert_eq!(status.as_u16(), 404);
    drop(server);

    // An app of several components: `skiff serve` serves each on its route, with its own
    // environment, as `spin up` does; a private one only to the components allowed to call it
    // (`http://NAME.spin.internal`, in-process). `skiff run` refuses it, naming them.
    let hello = std::fs::read(P2_HTTP_HELLO).unwrap();
    let outbound = std::fs::read(P2_HTTP_OUTBOUND).unwrap();
    let headers = std::fs::read(P2_HTTP_SPIN_HEADERS).unwrap();
    let command = std::fs::read(P2_CLI_HELLO).unwrap();
    let locked = format!(
        r#"{{"spin_lock_version":1,
        "triggers":[{{"id":"a","trigger_type":"http","trigger_config":{{"component":"env","route":"/..."}}}},
                    {{"id":"b","trigger_type":"http","trigger_config":{{"component":"front","route":"/front/..."}}}},
                    {{"id":"d","trigger_type":"http","trigger_config":{{"component":"api","route":"/api/..."}}}},
                    {{"id":"c","trigger_type":"http","trigger_config":{{"component":"inner","route":{{"private":true}}}}}}],
        "components":[{{"id":"env","source":{{"content_type":"application/wasm","digest":"{{WASM}}"}},"env":{{"WHO":"env"}}}},
                      {{"id":"front","source":{{"content_type":"application/wasm","digest":"{outbound}"}},
                        "metadata":{{"allowed_outbound_hosts":["http://inner.spin.internal","http://self"]}}}},
                      {{"id":"api","source":{{"content_type":"application/wasm","digest":"{headers}"}}}},
                      {{"id":"inner","source":{{"content_type":"application/wasm","digest":"{hello}"}}}},
                      {{"id":"job","source":{{"content_type":"application/wasm","digest":"{command}"}}}}]}}"#,
        command = skiff_image::digest_of(&command),
        hello = skiff_image::digest_of(&hello),
        outbound = skiff_image::digest_of(&outbound),
        headers = skiff_image::digest_of(&headers),
    );
    let wasm = "application/vnd.wasm.content.layer.v1+wasm";
    let image = push_spin_app(
        &registry,
        "spin/three",
        &std::fs::read(P2_HTTP_ENV).unwrap(),
        &[
            (wasm, &hello),
            (wasm, &outbound),
            (wasm, &headers),
            (wasm, &command),
        ],
        &locked,
    );
    let server = crate::http::Server::start(&skiff, &[&image]);
    let (status, body) = crate::http::get(&server.url("/anything?name=WHO"));
    assert_eq!((status.as_u16(), body.as_str()), (200, "WHO=env\n"));
    // Spin's headers, as its HTTP trigger sets them (a client's own are replaced).
    let response = reqwest::blocking::Client::new()
        .get(server.url("/api/items/3?x=1"))
        .header("spin-path-info", "/forged")
        .send()
        .unwrap();
    let host = server.url("").trim_start_matches("http://").to_string();
    let text = response.text().unwrap();
    // The client's address and port, as Spin's `spin-client-addr`.
    let (client, rest): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|line| line.starts_with("spin-client-addr: "));
    assert!(
        matches!(client[..], [line] if line.starts_with("spin-client-addr: 127.0.0.1:")),
        "{text}"
    );
    assert_eq!(
        rest.join("\n") + "\n",
        format!(
            "spin-base-path: /\nspin-component-route: /api\n\
             spin-full-url: http://{host}/api/items/3?x=1\nspin-matched-route: /api/...\n\
             spin-path-info: /items/3\nspin-raw-component-route: /api/...\n"
        )
    );
    let call = |target: &str| {
        let response = reqwest::blocking::Client::new()
            .get(server.url("/front/"))
            .header("x-target-url", target)
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(
        call("http://inner.spin.internal/"),
        (200, "upstream 200: hello from skiff\n".into())
    );
    assert_eq!(
        call("http://self/x?name=WHO"),
        (200, "upstream 200: WHO=env\n".into())
    );
    // Not in its `allowed_outbound_hosts`: refused, and said how to allow it.
    let (status, body) = call("http://env.spin.internal/");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let log = server.stderr_with("add `http://env.spin.internal`");
    assert!(log.contains("to its `allowed_outbound_hosts`"), "{log}");
    assert!(log.contains("`inner` has no public route"), "{log}");
    // A component of another trigger (a command here) is not served, and said.
    assert!(log.contains("`job` is not a `wasi:http` handler"), "{log}");
    // As Spin's router: `/front/...` takes `/front` itself too (`front` answers 400 to a
    // request without the `x-target-url` it forwards to).
    let (status, body) = crate::http::get(&server.url("/front"));
    assert_eq!(status.as_u16(), 400, "{body}");
    drop(server);

    // The daemon runs it as one app, each component on its route, calling each other
    // in-process, and so again after a restart of the daemon.
    let mut daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon.run_d("three", &["-p", &port, &image]).success();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let call = |target: &str| {
        let response = reqwest::blocking::Client::new()
            .get(url("/front/x"))
            .header("x-target-url", target)
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    for round in ["created", "after a daemon restart"] {
        let (status, body) = crate::http::get(&url("/anything?name=WHO"));
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (200, "WHO=env\n"),
            "{round}"
        );
        let (status, body) = crate::http::get(&url("/api/items/3"));
        assert_eq!(status.as_u16(), 200, "{round}: {body}");
        assert!(
            body.contains("spin-path-info: /items/3\n"),
            "{round}: {body}"
        );
        assert_eq!(
            call("http://inner.spin.internal/"),
            (200, "upstream 200: hello from skiff\n".into()),
            "{round}"
        );
        assert_eq!(call("http://env.spin.internal/").0, 502, "{round}");
        // One app: every component's requests are its own, the call to `inner` included.
        let app = daemon.app("three");
        assert_eq!(app["http"]["stats"]["requests"], 5, "{round}: {app}");
        assert_eq!(
            app["http"]["components"],
            serde_json::json!([{"id": "env", "route": "/..."}, {"id": "front", "route": "/front/..."},
                {"id": "api", "route": "/api/..."}, {"id": "inner"}]),
            "{round}"
        );
        daemon
            .run(&["inspect", "three"])
            .success()
            .stdout_has("Component: `api` (route `/api/...`)\n")
            .stdout_has("Component: `inner` (private: http://inner.spin.internal/)\n");
        let log = daemon.run(&["logs", "three"]).success().stderr.clone();
        assert!(
            log.contains("add `http://env.spin.internal`"),
            "{round}: {log}"
        );
        daemon.restart_after_kill();
    }
    drop(daemon);
    skiff
        .run(&["image", "inspect", &image])
        .success()
        .stdout_has("Component: `env` (route `/...`)\nEnv:      WHO=env\n")
        .stdout_has("Component: `inner`\n");
    skiff
        .run(&["run", &image])
        .code(125)
        .stderr_has(
            "several components (`env` (route `/...`), `front` (route `/front/...`), `api` (route \
             `/api/...`), `inner`, `job`)",
        )
        .stderr_has("skiff serve IMAGE");
}

/// A Spin component that uses Spin's host APIs (`fermyon:spin@2.0.0`, and Spin SDK 7's
/// `spin:*@3.0.0`) runs as in Spin: its variables through `variables.get`, the key-value stores
/// and SQLite databases it declares through `key-value` and `sqlite`, each shared by all the
/// app's instances and components, any other refused.
#[test]
pub(crate) fn spin_apps_use_spins_variables_and_key_value_stores() {
    let registry = Registry::start();
    let skiff = Skiff::new();
    let kv = std::fs::read(P2_HTTP_SPIN_KV).unwrap();
    // And one as the Spin SDK writes them (a request counter in the store `default`), built as a
    // component and, as Spin's templates build it, as a wasm32-wasip1 module.
    let sdk = std::fs::read(SPIN_SDK_HTTP).unwrap();
    let sdk_p1 = std::fs::read(SPIN_SDK_HTTP_P1).unwrap();
    // And the same written with Spin SDK 7 (async, WASI 0.3, `spin:*@3.0.0`).
    let sdk7 = std::fs::read(SPIN_SDK7_HTTP).unwrap();
    let locked = r#"{"spin_lock_version":1,
        "variables":{"who":{"default":"world"}},
        "triggers":[{"id":"a","trigger_type":"http","trigger_config":{"component":"kv","route":"/..."}},
                    {"id":"b","trigger_type":"http","trigger_config":{"component":"other","route":"/other/..."}},
                    {"id":"c","trigger_type":"http","trigger_config":{"component":"denied","route":"/denied/..."}},
                    {"id":"d","trigger_type":"http","trigger_config":{"component":"sdk","route":"/sdk/..."}},
                    {"id":"e","trigger_type":"http","trigger_config":{"component":"sdk1","route":"/sdk1/..."}},
                    {"id":"f","trigger_type":"http","trigger_config":{"component":"sdk7","route":"/sdk7/..."}},
                    {"id":"g","trigger_type":"http","trigger_config":{"component":"nodb","route":"/nodb/..."}}],
        "components":[
            {"id":"kv","source":{"content_type":"application/wasm","digest":"{WASM}"},
             "config":{"greeting":"hello {{ who }}"},"metadata":{"key_value_stores":["default"]}},
            {"id":"other","source":{"content_type":"application/wasm","digest":"{WASM}"},
             "metadata":{"key_value_stores":["default"]}},
            {"id":"denied","source":{"content_type":"application/wasm","digest":"{WASM}"}},
            {"id":"sdk","source":{"content_type":"application/wasm","digest":"{SDK}"},
             "config":{"greeting":"hi {{ who }}"},
             "metadata":{"key_value_stores":["default"],"sqlite_databases":["default"]}},
            {"id":"sdk1","source":{"content_type":"application/wasm","digest":"{SDK1}"},
             "config":{"greeting":"hey"},
             "metadata":{"key_value_stores":["default"],"sqlite_databases":["default"]}},
            {"id":"sdk7","source":{"content_type":"application/wasm","digest":"{SDK7}"},
             "config":{"greeting":"yo {{ who }}"},
             "metadata":{"key_value_stores":["default"],"sqlite_databases":["default"]}},
            {"id":"nodb","source":{"content_type":"application/wasm","digest":"{SDK7}"},
             "metadata":{"key_value_stores":["default"]}}]}"#
        .replace("{SDK}", &skiff_image::digest_of(&sdk))
        .replace("{SDK1}", &skiff_image::digest_of(&sdk_p1))
        .replace("{SDK7}", &skiff_image::digest_of(&sdk7));
    let wasm = "application/vnd.wasm.content.layer.v1+wasm";
    let layers = [(wasm, &sdk[..]), (wasm, &sdk_p1[..]), (wasm, &sdk7[..])];
    let image = push_spin_app(&registry, "spin/kv", &kv, &layers, &locked);
    let client = reqwest::blocking::Client::new();
    let send = |method: reqwest::Method, url: String, body: &str| {
        let response = client
            .request(method, url)
            .body(body.to_string())
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let check = |url: &dyn Fn(&str) -> String| {
        let get = |path: &str| send(reqwest::Method::GET, url(path), "");
        assert_eq!(get("/var/greeting"), (200, "greeting=hello world\n".into()));
        let (status, body) = get("/var/nothing");
        assert_eq!(status, 404, "{body}");
        assert!(body.starts_with("Error::Undefined("), "{body}");
        assert_eq!(
            send(reqwest::Method::PUT, url("/kv/default/colour"), "blue"),
            (200, "stored colour\n".into())
        );
        // A fresh instance per request, the store the app's: the next one reads it, and so
        // does another component that declares the store.
        assert_eq!(get("/kv/default/colour"), (200, "blue".into()));
        assert_eq!(get("/other/kv/default/colour"), (200, "blue".into()));
        assert_eq!(get("/keys/default"), (200, "colour\n".into()));
        // A component that declares no store, or a store the component does not declare.
        assert_eq!(
            get("/denied/kv/default/colour"),
            (403, "Error::AccessDenied\n".into())
        );
        assert_eq!(
            get("/kv/cache/colour"),
            (403, "Error::AccessDenied\n".into())
        );
        assert_eq!(
            send(reqwest::Method::DELETE, url("/other/kv/default/colour"), ""),
            (200, "deleted colour\n".into())
        );
        assert_eq!(get("/kv/default/colour"), (404, "no colour\n".into()));
        // The Spin SDK's component counts its requests in the same store.
        assert_eq!(get("/sdk/a"), (200, "hi world /sdk/a count=1\n".into()));
        assert_eq!(get("/sdk1/b"), (200, "hey /sdk1/b count=2\n".into()));
        // SDK 7's too, and its stream of the store's keys.
        assert_eq!(
            get("/sdk7/c"),
            (200, "yo world /sdk7/c count=3 keys=1\n".into())
        );
        assert_eq!(get("/kv/default/count"), (200, "3".into()));
        // Their SQLite database, shared by the app's components whichever SDK wrote them;
        // none for a component that declares none.
        assert_eq!(get("/sdk/sql"), (200, "visits=1\n".into()));
        assert_eq!(get("/sdk7/sql"), (200, "visits=2 rowid=2\n".into()));
        assert_eq!(get("/sdk1/sql"), (200, "visits=3\n".into()));
        // SDK 5's newer `sqlite3` module (`spin:sqlite@3.0.0`), as a component and as a module.
        assert_eq!(get("/sdk/sql3"), (200, "visits=4 rowid=4\n".into()));
        assert_eq!(get("/sdk1/sql3"), (200, "visits=5 rowid=5\n".into()));
        let (status, body) = get("/nodb/sql");
        assert_eq!(status, 500, "{body}");
    };
    let server = crate::http::Server::start(&skiff, &[&image]);
    check(&|path| server.url(path));
    drop(server);
    skiff
        .run(&["image", "inspect", &image])
        .success()
        .stdout_has(
            "Component: `sdk` (route `/sdk/...`)\nConfig:   greeting=hi world\n\
             Stores:   default (Spin key-value)\nDatabases: default (Spin SQLite)\n",
        );

    // In the daemon, and each app its own stores.
    let mut daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon.run_d("kv", &["-p", &port, &image]).success();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    check(&url);
    send(reqwest::Method::PUT, url("/kv/default/mine"), "kv's");
    let port2 = crate::support::free_port().to_string();
    daemon.run_d("kv2", &["-p", &port2, &image]).success();
    let (status, _) = send(
        reqwest::Method::GET,
        format!("http://127.0.0.1:{port2}/kv/default/mine"),
        "",
    );
    assert_eq!(status, 404, "another app read kv's store");
    let (status, body) = send(
        reqwest::Method::GET,
        format!("http://127.0.0.1:{port2}/sdk/sql"),
        "",
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "visits=1\n"),
        "kv2 read kv's database"
    );
    // Kept in a file, as `spin up` keeps its default store: they survive the daemon's restart
    // and follow the app's new name; removed with the app.
    daemon.restart_after_kill();
    let get = |path: &str| send(reqwest::Method::GET, url(path), "");
    assert_eq!(get("/kv/default/mine"), (200, "kv's".into()));
    assert_eq!(get("/sdk/c"), (200, "hi world /sdk/c count=4\n".into()));
    assert_eq!(
        get("/sdk7/d"),
        (200, "yo world /sdk7/d count=5 keys=2\n".into())
    );
    assert_eq!(get("/sdk7/sql"), (200, "visits=6 rowid=6\n".into()));
    daemon.run(&["rename", "kv", "kv3"]).success();
    assert_eq!(get("/sdk/sql"), (200, "visits=7\n".into()));
    daemon.restart_after_kill();
    assert_eq!(get("/kv/default/mine"), (200, "kv's".into()));
    assert_eq!(get("/sdk/sql"), (200, "visits=8\n".into()));
    daemon.run(&["rm", "-f", "kv3"]).success();
    daemon.run_d("kv3", &["-p", &port, &image]).success();
    assert_eq!(get("/kv/default/mine"), (404, "no mine\n".into()));
    assert_eq!(get("/sdk/sql"), (200, "visits=1\n".into()));
    drop(daemon);

    // Without a Spin app's declarations (a plain component): no store, and variables are
    // `-S config-var`s.
    let server = crate::http::Server::start(&skiff, &["-S", "config-var=who=you", P2_HTTP_SPIN_KV]);
    let (status, body) = send(reqwest::Method::GET, server.url("/kv/default/x"), "");
    assert_eq!((status, body.as_str()), (403, "Error::AccessDenied\n"));
    assert_eq!(
        send(reqwest::Method::GET, server.url("/var/who"), ""),
        (200, "who=you\n".into())
    );
}

/// A Redis server of the test's own, on a free loopback port, stopped when dropped.
struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        RedisServer::start_on(crate::support::free_port())
    }

    fn start_on(port: u16) -> RedisServer {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server; scripts/install-test-deps.sh)");
        let server = RedisServer { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not listen on {port}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    /// Publishes `payload` on `channel`; how many subscribers received it.
    fn publish(&self, channel: &str, payload: &str) -> u64 {
        use std::io::{BufRead as _, BufReader};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let mut command = b"*3\r\n$7\r\nPUBLISH\r\n".to_vec();
        for arg in [channel, payload] {
            command.extend(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        stream.write_all(&command).unwrap();
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).unwrap();
        let count = reply.trim().strip_prefix(':');
        count
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("PUBLISH: {reply:?}"))
    }

    /// Waits until someone subscribes to `channel` (a probe message each time: a Redis
    /// channel keeps no message for later subscribers).
    #[track_caller]
    fn wait_for_subscriber(&self, channel: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.publish(channel, "probe") == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "nobody subscribed to `{channel}`"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// `skiff logs NAME` once its output (stdout or stderr) holds `needle`, or a failure after 30 s.
#[track_caller]
pub(crate) fn logs_with(
    daemon: &crate::daemon::Daemon,
    name: &str,
    needle: &str,
) -> crate::support::Outcome {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = daemon.run(&["logs", name]);
        if out.stdout.contains(needle) || out.stderr.contains(needle) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: no `{needle}` in its log: {}{}",
            out.stdout,
            out.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A Spin app with a Redis trigger (`spin new -t redis-rust`): each message on its channel
/// calls a fresh instance of its component, written with Spin SDK 5 (as a component, and as the
/// wasm32-wasip1 module its template builds) or SDK 7. In the daemon it runs as a service: its
/// subscription only under the app's grants, a handler's error or trap said in its log and the
/// next message handled, its key-value store kept across its restarts, a stop ending it at
/// once (between messages), and its server's end ending it with a failure.
#[test]
fn spin_redis_triggers_call_a_fresh_instance_per_message() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let app = |name: &str, wasm: &str| {
        let app = dir.path().join(name);
        std::fs::create_dir(&app).unwrap();
        std::fs::copy(wasm, app.join("app.wasm")).unwrap();
        std::fs::write(
            app.join("spin.toml"),
            format!(
                r#"spin_manifest_version = 2
[application]
name = "{name}"
version = "1.0.0"
[application.trigger.redis]
address = "{{{{ redis_address }}}}"
[variables]
redis_address = {{ default = "redis://127.0.0.1:{port}" }}
[[trigger.redis]]
channel = "{name}-messages"
component = "handler"
[component.handler]
source = "app.wasm"
key_value_stores = ["default"]
"#,
                port = redis.port
            ),
        )
        .unwrap();
        app.join("spin.toml").to_str().unwrap().to_string()
    };
    let daemon = crate::daemon::Daemon::start();
    let logs = |name: &str| daemon.run(&["logs", name]);
    // Its server is a destination like any other: not reached unless granted.
    let five = app("five", SPIN_SDK_REDIS);
    daemon.run_d("ungranted", &[&five]).success();
    let ungranted = daemon.wait_for("ungranted", "exited", |a| {
        crate::daemon::state(a) == "exited"
    });
    assert_eq!(crate::daemon::exits(&ungranted), [1]);
    logs("ungranted").stderr_has(&format!(
        "blocked Redis connection to 127.0.0.1:{}",
        redis.port
    ));
    daemon
        .run(&["image", "inspect", "five:1.0.0"])
        .success()
        .stdout_has("Trigger:  Redis channel `five-messages` of redis://127.0.0.1:")
        .stdout_has("Network:  allow=127.0.0.1:");
    for (name, wasm) in [
        ("five", SPIN_SDK_REDIS),
        ("fivep1", SPIN_SDK_REDIS_P1),
        ("seven", SPIN_SDK7_REDIS),
        // As Spin's Go SDK v2 builds it (wit-bindgen 0.2's ABI).
        ("spin1", SPIN1_REDIS_P1),
    ] {
        let manifest = if name == "five" {
            five.clone()
        } else {
            app(name, wasm)
        };
        // Its limits are each message's, as an HTTP handler's are each request's.
        daemon
            .run_d(name, &["--network", "image", "--timeout", "1s", &manifest])
            .success();
        let channel = format!("{name}-messages");
        redis.wait_for_subscriber(&channel);
        let spins = name != "seven";
        let payloads = ["spin", "one", "fail", "trap", "two"];
        for payload in &payloads[usize::from(!spins)..] {
            assert_eq!(redis.publish(&channel, payload), 1);
        }
        // The probes were messages too: counted, and handled first.
        let out = logs_with(&daemon, name, ": two\n");
        let count = |payload: &str| {
            let line = out
                .stdout
                .lines()
                .find(|l| l.ends_with(&format!(": {payload}")));
            let n = line.and_then(|l| l.strip_prefix("message ")?.split(':').next()?.parse().ok());
            n.unwrap_or_else(|| panic!("{name}: no message `{payload}`: {}", out.stdout))
        };
        let (one, fail, two): (u64, u64, u64) = (count("one"), count("fail"), count("two"));
        assert_eq!((fail, two), (one + 1, one + 2), "{name}: {}", out.stdout);
        out.stderr_has("a message on the Redis channel")
            .stderr_has("the handler returned an error")
            .stderr_has("the handler trapped");
        if spins {
            out.stderr_has(
                "the app exceeded its wall-clock limit of 1s (raise it with `--timeout`)",
            );
        }
        // A stop ends it between messages: at once, and as a success.
        daemon.run(&["stop", name]).success();
        let stopped = daemon.app(name);
        assert_eq!(
            crate::daemon::exits(&stopped).last(),
            Some(&0),
            "{stopped:#}"
        );
        // Its store outlives its runs.
        daemon.run(&["start", name]).success();
        redis.wait_for_subscriber(&channel);
        assert_eq!(redis.publish(&channel, "three"), 1);
        let out = logs_with(&daemon, name, ": three\n");
        let three = out.stdout.lines().find(|l| l.ends_with(": three")).unwrap();
        let three: u64 = three["message ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(three > two + 1, "{name}: {}", out.stdout);
    }
    // Its server going away ends its subscription: a failure, which its policy may restart.
    drop(redis);
    let ended = daemon.wait_for("seven", "exited", |a| crate::daemon::state(a) == "exited");
    assert_eq!(crate::daemon::exits(&ended).last(), Some(&1), "{ended:#}");
    let reason = ended["exits"].as_array().unwrap().last().unwrap()["reason"].as_str();
    assert!(
        reason.unwrap().contains("closed the subscription"),
        "{ended:#}"
    );
}

/// A Redis trigger at a `rediss://` address subscribes over TLS, the server's certificate
/// checked (a Redis server speaking only TLS, whose certificate no root signed: refused for it,
/// where a plain connection would have failed otherwise).
#[test]
fn a_redis_trigger_over_tls_checks_the_servers_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = crate::support::self_signed_certificate(dir.path());
    let port = crate::support::free_port();
    let mut server = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian's redis-server; scripts/install-test-deps.sh)");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::copy(SPIN_SDK_REDIS, app.join("app.wasm")).unwrap();
    std::fs::write(
        app.join("spin.toml"),
        format!(
            r#"spin_manifest_version = 2
[application]
name = "secure"
version = "1.0.0"
[application.trigger.redis]
address = "rediss://localhost:{port}"
[[trigger.redis]]
channel = "events"
component = "handler"
[component.handler]
source = "app.wasm"
"#
        ),
    )
    .unwrap();
    let manifest = app.join("spin.toml");
    let daemon = crate::daemon::Daemon::start();
    // The name the certificate is checked against, and the loopback address it resolves to.
    let grant = format!("allow=localhost:{port},127.0.0.1:{port}");
    daemon
        .run_d("secure", &["--network", &grant, manifest.to_str().unwrap()])
        .success();
    let ended = daemon.wait_for("secure", "exited", |a| crate::daemon::state(a) == "exited");
    let reason = ended["exits"].as_array().unwrap().last().unwrap()["reason"].clone();
    let reason = reason.as_str().unwrap();
    assert!(
        reason.contains("TLS") && reason.contains("certificate"),
        "{reason}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// `skiff serve spin.toml` and the daemon run a Spin app's Redis triggers beside its HTTP
/// components, as `spin up` runs every trigger, with one key-value store for them all.
#[test]
fn a_spin_apps_redis_triggers_run_beside_its_http_routes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(SPIN_SDK_HTTP, dir.path().join("http.wasm")).unwrap();
    std::fs::copy(SPIN_SDK_REDIS, dir.path().join("redis.wasm")).unwrap();
    std::fs::write(
        dir.path().join("spin.toml"),
        format!(
            r#"spin_manifest_version = 2
[application]
name = "mixed"
version = "1.0.0"
[application.trigger.redis]
address = "redis://127.0.0.1:{port}"
[[trigger.http]]
route = "/..."
component = "web"
[[trigger.redis]]
channel = "events"
component = "worker"
[component.web]
source = "http.wasm"
key_value_stores = ["default"]
[component.worker]
source = "redis.wasm"
key_value_stores = ["default"]
"#,
            port = redis.port
        ),
    )
    .unwrap();
    let manifest = dir.path().join("spin.toml");
    let server = crate::http::Server::start(
        &Skiff::new(),
        &["--network", "image", manifest.to_str().unwrap()],
    );
    redis.wait_for_subscriber("events");
    // The worker and the web component count in one store: the probes', then this request.
    let (status, body) = crate::http::get(&server.url("/"));
    assert_eq!(status, 200, "{body}");
    let count: u64 = body.split("count=").nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(redis.publish("events", "a"), 1);
    let next = format!("message {}: a", count + 1);
    let stdout = server.stdout_with(&next);
    assert!(stdout.contains(&next), "{stdout}");
    assert!(
        server
            .stderr_with("handles the Redis channel `events`")
            .contains("Component `worker` handles the Redis channel `events`"),
        "{}",
        server.stderr_with("")
    );
    drop(server);
    // The daemon too: the worker subscribed while the app serves, its messages counted in the
    // store its web component reads; subscribed again when its server comes back.
    let daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    let manifest = manifest.to_str().unwrap();
    daemon
        .run_d("mixed", &["-p", &port, "--network", "image", manifest])
        .success();
    redis.wait_for_subscriber("events");
    let (status, body) = crate::http::get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, 200, "{body}");
    let count: u64 = body.split("count=").nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(redis.publish("events", "b"), 1);
    logs_with(&daemon, "mixed", &format!("message {}: b", count + 1));
    // Its server gone and back: the app serves on, and its trigger subscribes again.
    let redis_port = redis.port;
    drop(redis);
    logs_with(&daemon, "mixed", "subscribing again in");
    let (status, _) = crate::http::get(&format!("http://127.0.0.1:{port}/"));
    assert_eq!(status, 200);
    let redis = RedisServer::start_on(redis_port);
    redis.wait_for_subscriber("events");
    // A stop ends its trigger between messages, without waiting out the grace period (a
    // trigger that did not hear it would hold the stop for all of its 30 s).
    let started = std::time::Instant::now();
    daemon.run(&["stop", "-t", "30", "mixed"]).success();
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

/// Spin's outbound Redis: a component reaches the Redis server its `allowed_outbound_hosts`
/// grants once the user applies them (`--network image`), with Spin SDK 5 and 7 alike; without
/// the grant the connection is refused and the app's log names the grant to add.
#[test]
fn spin_apps_reach_redis_through_their_grants() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(SPIN_SDK_HTTP, dir.path().join("sdk5.wasm")).unwrap();
    std::fs::copy(SPIN_SDK7_HTTP, dir.path().join("sdk7.wasm")).unwrap();
    std::fs::copy(SPIN1_HTTP_P1, dir.path().join("one.wasm")).unwrap();
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"spin_manifest_version = 2
[application]
name = "cache"
version = "1.0.0"
[variables]
redis_address = {{ default = "redis://127.0.0.1:{port}" }}
[[trigger.http]]
route = "/five/..."
component = "five"
[[trigger.http]]
route = "/seven/..."
component = "seven"
[[trigger.http]]
route = "/ungranted/..."
component = "ungranted"
[[trigger.http]]
route = "/one/..."
component = "one"
[component.one]
source = "one.wasm"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
[component.five]
source = "sdk5.wasm"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
variables = {{ redis_address = "{{{{ redis_address }}}}" }}
[component.seven]
source = "sdk7.wasm"
allowed_outbound_hosts = ["redis://127.0.0.1:{port}"]
variables = {{ redis_address = "{{{{ redis_address }}}}" }}
[component.ungranted]
source = "sdk7.wasm"
variables = {{ redis_address = "{{{{ redis_address }}}}" }}
"#,
            port = redis.port
        ),
    )
    .unwrap();
    let manifest = manifest.to_str().unwrap();
    let daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon
        .run_d("cache", &["--network", "image", "-p", &port, manifest])
        .success();
    let get = |port: &str, path: &str| {
        let (status, body) = crate::http::get(&format!("http://127.0.0.1:{port}{path}"));
        (status.as_u16(), body)
    };
    assert_eq!(get(&port, "/five/redis"), (200, "hits=1\n".into()));
    assert_eq!(get(&port, "/seven/redis"), (200, "hits=2\n".into()));
    assert_eq!(get(&port, "/five/redis"), (200, "hits=3\n".into()));
    // Spin 1's `outbound-redis` (Spin's Go SDK v2): the address in the call.
    assert_eq!(
        get(
            &port,
            &format!("/one/redis?redis://127.0.0.1:{}", redis.port)
        ),
        (200, "hi\n".into())
    );
    // A component whose grants do not reach the server.
    let (status, body) = get(&port, "/ungranted/redis");
    assert_eq!(status, 500, "{body}");
    daemon
        .run(&["logs", "cache"])
        .success()
        .stderr_has(&format!(
            "blocked Redis connection to 127.0.0.1:{}",
            redis.port
        ));
    // The image's grants apply only when the user applies them.
    let port2 = crate::support::free_port().to_string();
    daemon.run_d("cache2", &["-p", &port2, manifest]).success();
    let (status, body) = get(&port2, "/five/redis");
    assert_eq!(status, 500, "{body}");
    assert_eq!(get(&port, "/seven/redis"), (200, "hits=4\n".into()));
}

/// Spin's SQLite runs the guest's SQL in the host, so it is held to what its Wasm is held to:
/// the app's own database and nothing else of the host, and the instance's `--timeout`.
#[test]
pub(crate) fn spin_sqlite_is_confined_to_the_apps_database_and_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::copy(P2_HTTP_SPIN_SQL, app.join("sql.wasm")).unwrap();
    std::fs::write(
        app.join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "ledger"
version = "1.0.0"
[[trigger.http]]
route = "/..."
component = "sql"
[component.sql]
source = "sql.wasm"
sqlite_databases = ["default"]
"#,
    )
    .unwrap();
    let manifest = app.join("spin.toml");
    let manifest = manifest.to_str().unwrap();
    let daemon = crate::daemon::Daemon::start();
    let (port, port2) = (crate::support::free_port(), crate::support::free_port());
    let (port, port2) = (port.to_string(), port2.to_string());
    daemon
        .run_d("ledger", &["-p", &port, "--timeout", "2s", manifest])
        .success();
    daemon.run_d("ledger2", &["-p", &port2, manifest]).success();
    let client = reqwest::blocking::Client::new();
    let sql = |port: &str, label: &str, statement: &str| {
        let response = client
            .post(format!("http://127.0.0.1:{port}/sql/{label}"))
            .body(statement.to_string())
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    assert_eq!(
        sql(&port, "default", "CREATE TABLE t (x)"),
        (200, "".into())
    );
    assert_eq!(
        sql(
            &port,
            "default",
            "INSERT INTO t VALUES (1), ('two') RETURNING x"
        ),
        (200, "1\ntwo\n".into())
    );
    // Nothing of the host: no other database file, no change to how or where it is stored.
    let outside = dir.path().join("outside.db");
    for statement in [
        format!("ATTACH DATABASE '{}' AS o", outside.display()),
        format!("VACUUM INTO '{}'", outside.display()),
        "PRAGMA journal_mode = off".to_string(),
        "PRAGMA max_page_count = 4000000000".to_string(),
    ] {
        let (status, body) = sql(&port, "default", &statement);
        assert_eq!(status, 500, "`{statement}` answered {body}");
    }
    assert!(!outside.exists(), "the guest wrote a file of the host");
    // Only the databases it declares.
    assert_eq!(
        sql(&port, "other", "SELECT 1"),
        (403, "AccessDenied\n".into())
    );
    // A statement that would never end ends with its instance, at `--timeout`.
    let started = std::time::Instant::now();
    let (status, body) = sql(
        &port,
        "default",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    );
    assert!(status == 500 || status == 504, "{status} {body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the statement ran on for {:?}",
        started.elapsed()
    );
    // The app and its database go on; another app of the same image has a database of its own.
    assert_eq!(
        sql(&port, "default", "SELECT count(*) FROM t"),
        (200, "2\n".into())
    );
    let (status, body) = sql(&port2, "default", "SELECT count(*) FROM t");
    assert_eq!(status, 500, "ledger2 read ledger's table: {body}");
    assert!(body.contains("no such table"), "{body}");
}

/// `skiff build` of a Spin app's directory: its `spin.toml` built (each component's build
/// command run, as `spin build` runs it) into an image laid out as `spin registry push` lays it
/// out, which runs as the published one does; the same inputs give the same digest.
#[test]
fn a_spin_toml_builds_an_image_that_runs_as_spin_runs_it() {
    let skiff = Skiff::new();
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path();
    std::fs::copy(P2_HTTP_SPIN_KV, app.join("kv.wasm")).unwrap();
    std::fs::create_dir(app.join("out")).unwrap();
    std::fs::write(
        app.join("spin.toml"),
        format!(
            r#"spin_manifest_version = 2

[application]
name = "shop"
version = "1.2.0"

[variables]
who = {{ default = "world" }}

[[trigger.http]]
route = "/..."
component = "kv"

[[trigger.http]]
route = "/sdk/..."
component = "sdk"

[component.kv]
source = "kv.wasm"
key_value_stores = ["default"]
files = ["**/*.db"]
[component.kv.variables]
greeting = "hello {{{{ who }}}}"

[component.sdk]
source = "out/sdk.wasm"
key_value_stores = ["default"]
sqlite_databases = ["default"]
[component.sdk.variables]
greeting = "hi {{{{ who }}}}"
[component.sdk.build]
command = "cp {sdk} sdk.wasm"
workdir = "out"
"#,
            sdk = SPIN_SDK_HTTP_P1
        ),
    )
    .unwrap();
    let path = app.to_str().unwrap();
    let built = skiff.run(&["build", path]).success().stdout.clone();
    assert!(built.starts_with("sha256:"), "{built}");
    skiff.run(&["build", path]).success().stdout_is(&built);
    skiff
        .run(&["image", "inspect", "shop:1.2.0"])
        .success()
        .stdout_has(&format!("Digest:   {built}"));
    // `skiff serve spin.toml`, as `spin up -f spin.toml`: the app from the Wasm it names.
    let manifest = app.join("spin.toml");
    let server = crate::http::Server::start(&skiff, &[manifest.to_str().unwrap()]);
    let get = |path: &str| crate::http::get(&server.url(path));
    let text = |(status, body): (reqwest::StatusCode, String)| (status.as_u16(), body);
    assert_eq!(
        text(get("/var/greeting")),
        (200, "greeting=hello world\n".into())
    );
    assert_eq!(
        text(get("/sdk/x")),
        (200, "hi world /sdk/x count=1\n".into())
    );
    assert_eq!(text(get("/kv/default/count")), (200, "1".into()));
    assert_eq!(text(get("/sdk/sql")), (200, "visits=1\n".into()));
    drop(server);
    // As `spin up` keeps them in `.spin/`, its stores outlive the server, in `.spin/skiff/`.
    let server = crate::http::Server::start(&skiff, &[manifest.to_str().unwrap()]);
    let get = |path: &str| text(crate::http::get(&server.url(path)));
    assert_eq!(get("/kv/default/count"), (200, "1".into()));
    assert_eq!(get("/sdk/sql"), (200, "visits=2\n".into()));
    drop(server);
    assert!(app.join(".spin/skiff/shop.redb").is_file());
    assert!(app.join(".spin/skiff/shop.sqlite/default.db").is_file());
    // They are never part of the app's image, whatever its `files` patterns.
    skiff.run(&["build", path]).success().stdout_is(&built);
    // And in the daemon: `skiff run -d spin.toml`.
    let daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    let manifest = manifest.to_str().unwrap();
    daemon.run_d("shop", &["-p", &port, manifest]).success();
    let (status, body) = crate::http::get(&format!("http://127.0.0.1:{port}/var/greeting"));
    assert_eq!(
        (status.as_u16(), body.as_str()),
        (200, "greeting=hello world\n")
    );
    daemon.run(&["ps"]).success().stdout_has("shop:1.2.0");
    drop(daemon);

    // Files: patterns, less `exclude_files`, and a directory mapped to a destination.
    let site = tempfile::tempdir().unwrap();
    let root = site.path();
    std::fs::copy(P2_CLI_READ_FILE, root.join("read.wasm")).unwrap();
    std::fs::create_dir_all(root.join("static/css")).unwrap();
    std::fs::create_dir_all(root.join("assets")).unwrap();
    std::fs::write(root.join("static/index.html"), "<h1>shop</h1>\n").unwrap();
    std::fs::write(root.join("static/css/site.css"), "h1 {}\n").unwrap();
    std::fs::write(root.join("static/draft.tmp"), "not for the image\n").unwrap();
    std::fs::write(root.join("assets/logo.svg"), "<svg/>\n").unwrap();
    std::fs::write(
        root.join("spin.toml"),
        r#"spin_manifest_version = 2
[application]
name = "site"
[[trigger.http]]
route = "/..."
component = "site"
[component.site]
source = "read.wasm"
files = ["static/**/*", { source = "assets", destination = "/img" }]
exclude_files = ["**/*.tmp"]
"#,
    )
    .unwrap();
    skiff.run(&["build", root.to_str().unwrap()]).success();
    for (file, content) in [
        ("/static/index.html", "<h1>shop</h1>\n"),
        ("/static/css/site.css", "h1 {}\n"),
        ("/img/logo.svg", "<svg/>\n"),
    ] {
        skiff
            .run(&["run", "site:latest", file])
            .success()
            .stdout_is(content);
    }
    skiff
        .run(&["run", "site:latest", "/static/draft.tmp"])
        .code(1);
    let manifest = root.join("spin.toml");
    skiff
        .run(&["run", manifest.to_str().unwrap(), "/img/logo.svg"])
        .success()
        .stdout_is("<svg/>\n");

    // What Skiff cannot build is refused, naming it.
    let bad = tempfile::tempdir().unwrap();
    let write = |manifest: &str| std::fs::write(bad.path().join("spin.toml"), manifest).unwrap();
    let build = || skiff.run(&["build", bad.path().to_str().unwrap()]);
    write(
        r#"spin_manifest_version = 2
[application]
name = "far"
[[trigger.http]]
route = "/..."
component = "far"
[component.far]
source = { url = "https://example.com/far.wasm", digest = "sha256:00" }
"#,
    );
    build()
        .code(125)
        .stderr_has("component `far`'s `source` is a URL or a registry package");
    write(
        r#"spin_manifest_version = 2
[application]
name = "lost"
[[trigger.http]]
route = "/..."
component = "nowhere"
"#,
    );
    build()
        .code(125)
        .stderr_has("names the component `nowhere`, which has no `[component.nowhere]`");
}

#[test]
fn docker_images_bring_their_env_and_arguments() {
    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    let registry = Registry::start();
    let env_layer = tar_of(&[("env.wasm", &std::fs::read(P1_CLI_ENV).unwrap())]);
    let config = br#"{"architecture":"wasm","os":"wasip1","config":{"Env":["PATH=/usr/bin","GREETING=hi"],"Entrypoint":["/env.wasm"]}}"#;
    let manifest = one_layer(&registry, "docker/env", (CONFIG, config), (TAR, &env_layer));
    push_manifest(&registry, "docker/env", "1", &manifest);
    let skiff = Skiff::new();
    skiff
        .run(&["run", "-e", "EXTRA=x", &registry.url("docker/env:1")])
        .success()
        .stdout_is("EXTRA=x\nGREETING=hi\nPATH=/usr/bin\n");
    skiff
        .run(&["run", "-e", "GREETING=flag", &registry.url("docker/env:1")])
        .success()
        .stdout_is("GREETING=flag\nPATH=/usr/bin\n");

    let hello_layer = tar_of(&[("hello.wasm", &std::fs::read(P2_CLI_HELLO).unwrap())]);
    let config = br#"{"architecture":"wasm","os":"wasip2","config":{"Entrypoint":["/hello.wasm"],"Cmd":["--name","cmd"]}}"#;
    let manifest = one_layer(
        &registry,
        "docker/hello",
        (CONFIG, config),
        (TAR, &hello_layer),
    );
    push_manifest(&registry, "docker/hello", "1", &manifest);
    let image = registry.url("docker/hello:1");
    skiff
        .run(&["run", &image])
        .success()
        .stdout_is("Hello, cmd!\n");
    skiff
        .run(&["run", &image, "--name", "arg"])
        .success()
        .stdout_is("Hello, arg!\n");

    // `ENTRYPOINT ["/args.wasm", "serve", "--verbose"]`, `CMD ["--port", "80"]`: arguments
    // given to the run replace `CMD` only, in the foreground and in the daemon.
    let args_layer = tar_of(&[("args.wasm", &std::fs::read(P1_CLI_ARGS).unwrap())]);
    let config = br#"{"architecture":"wasm","os":"wasip1","config":{"Entrypoint":["/args.wasm","serve","--verbose"],"Cmd":["--port","80"]}}"#;
    let manifest = one_layer(
        &registry,
        "docker/args",
        (CONFIG, config),
        (TAR, &args_layer),
    );
    push_manifest(&registry, "docker/args", "1", &manifest);
    let image = registry.url("docker/args:1");
    skiff
        .run(&["run", &image])
        .success()
        .stdout_is("serve\n--verbose\n--port\n80\n");
    skiff
        .run(&["run", &image, "--port", "8080"])
        .success()
        .stdout_is("serve\n--verbose\n--port\n8080\n");
    skiff
        .run(&["image", "inspect", &image])
        .success()
        .stdout_has(r#"Args:     ["serve", "--verbose", "--port", "80"]"#);
    let daemon = crate::daemon::Daemon::start();
    daemon
        .run_to_exit("args", &[&image, "--port", "8080"])
        .success()
        .stdout_is("serve\n--verbose\n--port\n8080\n");
}

/// `--pull`, as `docker run --pull`: `missing` runs the stored image under a name even once the
/// registry has a newer one; `always` fetches the registry's first; `never` runs only what is
/// stored. In the foreground and in the daemon; `-q` shows no pull progress.
#[test]
fn pull_policies_choose_between_the_store_and_the_registry() {
    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    let registry = Registry::start();
    let layer = tar_of(&[("hello.wasm", &std::fs::read(P2_CLI_HELLO).unwrap())]);
    let push = |who: &str| {
        let config = format!(
            r#"{{"architecture":"wasm","os":"wasip2","config":{{"Entrypoint":["/hello.wasm"],"Cmd":["--name","{who}"]}}}}"#
        );
        let manifest = one_layer(
            &registry,
            "team/hello",
            (CONFIG, config.as_bytes()),
            (TAR, &layer),
        );
        push_manifest(&registry, "team/hello", "1", &manifest);
    };
    let image = registry.url("team/hello:1");
    let skiff = Skiff::new();
    push("first");
    skiff
        .run(&["run", "--pull", "never", &image])
        .code(125)
        .stderr_has(&format!("no image `{image}` in the local store"))
        .stderr_has("skiff pull");
    skiff
        .run(&["run", "-q", &image])
        .success()
        .stdout_is("Hello, first!\n")
        .stderr_lacks("Pulled");

    push("second");
    skiff
        .run(&["run", &image])
        .success()
        .stdout_is("Hello, first!\n");
    skiff
        .run(&["run", "--pull", "never", &image])
        .success()
        .stdout_is("Hello, first!\n");
    skiff
        .run(&["run", "--pull", "always", &image])
        .success()
        .stdout_is("Hello, second!\n")
        .stderr_has("Pulled");
    skiff
        .run(&["run", &image])
        .success()
        .stdout_is("Hello, second!\n");
    skiff
        .run(&["run", "--pull", "sometimes", &image])
        .code(125)
        .stderr_has("expected `missing`, `always` or `never`");

    // The daemon pulls into its own store, as the policy says.
    let daemon = crate::daemon::Daemon::start();
    daemon
        .run(&["run", "-d", "--pull", "never", &image])
        .code(125)
        .stderr_has("`--pull never`");
    daemon
        .run_to_exit("missing", &[&image])
        .success()
        .stdout_is("Hello, second!\n");
    push("third");
    daemon
        .run_to_exit("stored", &["--pull", "never", &image])
        .success()
        .stdout_is("Hello, second!\n");
    daemon
        .run_to_exit("fresh", &["--pull", "always", &image])
        .success()
        .stdout_is("Hello, third!\n");
}

/// An image's working directory (`WORKDIR`, or `app.workdir` in `skiff.toml`) is where the app
/// starts when the run lets it see that directory; `-w` replaces it; a Docker `WORKDIR` the run
/// grants nothing at is no error: the app starts in `/`, as it always did.
#[test]
fn an_images_working_directory_is_where_the_app_starts() {
    const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    let registry = Registry::start();
    let skiff = Skiff::new();
    let host = tempfile::tempdir().unwrap();
    for (path, text) in [
        ("logs/today.txt", "from WORKDIR\n"),
        ("today.txt", "from /data\n"),
    ] {
        std::fs::create_dir_all(host.path().join(path).parent().unwrap()).unwrap();
        std::fs::write(host.path().join(path), text).unwrap();
    }
    let grant = format!("{}:/data:ro", path_str(host.path()));

    let layer = tar_of(&[("cat.wasm", &std::fs::read(P2_CLI_READ_FILE).unwrap())]);
    let config = br#"{"architecture":"wasm","os":"wasip2","config":{"Entrypoint":["/cat.wasm"],"WorkingDir":"/data/logs"}}"#;
    let manifest = one_layer(&registry, "docker/cat", (CONFIG, config), (TAR, &layer));
    push_manifest(&registry, "docker/cat", "1", &manifest);
    let image = registry.url("docker/cat:1");
    skiff
        .run(&["run", "-v", &grant, &image, "today.txt"])
        .success()
        .stdout_is("from WORKDIR\n");
    skiff
        .run(&["run", "-v", &grant, "-w", "/data", &image, "today.txt"])
        .success()
        .stdout_is("from /data\n");
    // `inspect` shows what a run takes from another tool's image, as for Skiff's own.
    skiff
        .run(&["inspect", &image])
        .success()
        .stdout_has("Workdir:  /data/logs\n");
    // Nothing granted at `/data`: no working directory, so the relative path names nothing.
    let out = skiff.run(&["run", &image, "today.txt"]);
    out.code(1);
    assert!(!out.stderr.contains("working directory"), "{out:#?}");

    let hello = tar_of(&[("hello.wasm", &std::fs::read(P2_CLI_HELLO).unwrap())]);
    let config = br#"{"architecture":"wasm","os":"wasip2","config":{"Entrypoint":["/hello.wasm"],"WorkingDir":"/app"}}"#;
    let manifest = one_layer(
        &registry,
        "docker/hello-wd",
        (CONFIG, config),
        (TAR, &hello),
    );
    push_manifest(&registry, "docker/hello-wd", "1", &manifest);
    skiff
        .run(&["run", &registry.url("docker/hello-wd:1")])
        .success()
        .stdout_is("Hello, world!\n");

    // Skiff's own: `app.workdir` in one of the image's files destinations.
    let app = app_dir(
        P2_CLI_READ_FILE,
        "[[files]]\nsource = \"static\"\ndestination = \"/srv\"\n",
        &[("static/site/index.html", "<p>hi</p>\n")],
    );
    let manifest = std::fs::read_to_string(app.path().join("skiff.toml")).unwrap();
    let manifest = manifest.replace(
        "version = \"1.0.0\"\n",
        "version = \"1.0.0\"\nworkdir = \"/srv/site\"\n",
    );
    std::fs::write(app.path().join("skiff.toml"), manifest).unwrap();
    build(&skiff, app.path(), "site:1");
    skiff
        .run(&["run", "site:1", "index.html"])
        .success()
        .stdout_is("<p>hi</p>\n");
    skiff
        .run(&["inspect", "site:1"])
        .success()
        .stdout_has("Workdir:  /srv/site\n");
}

#[test]
fn concurrent_pulls_of_the_same_image() {
    let registry = Registry::start();
    let publisher = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    build(&publisher, app.path(), "hello:1.0");
    let remote = registry.url("team/hello:1.0");
    publisher.run(&["tag", "hello:1.0", &remote]).success();
    publisher.run(&["push", &remote]).success();

    // Several pulls into one store at once: all succeed, and the store holds one good copy.
    let skiff = Skiff::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            skiff
                .command()
                .args(["pull", &remote])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
    }
    skiff
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n");
    let leftovers = std::fs::read_dir(skiff.root().join("images/tmp"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "half-written blobs were left behind");
    assert_eq!(blobs(&skiff).len(), blobs(&publisher).len());
}

/// An image a daemon app runs from is kept while the app exists, as Docker keeps an image a
/// container uses: `rmi` removes the name, `prune` frees nothing the app needs, even across a
/// daemon restart; once the app is removed, prune frees it.
#[test]
fn images_in_use_by_apps_survive_rmi_and_prune() {
    let daemon = crate::daemon::Daemon::start();
    let skiff = &daemon.skiff;
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    build(skiff, app.path(), "hello:1.0");
    let before = blobs(skiff).len();
    daemon.run_d("greeter", &["hello:1.0"]).success();
    skiff.run(&["rmi", "hello:1.0"]).success();
    skiff.run(&["image", "prune"]).success();
    skiff.run(&["images"]).success().stdout_lacks("hello");
    assert_eq!(blobs(skiff).len(), before, "prune took blobs an app uses");
    let mut daemon = daemon;
    daemon.restart_after_kill();
    daemon.run(&["restart", "greeter"]).success();
    daemon.wait_for("greeter", "run again", |app| {
        app["exits"].as_array().is_some_and(|e| e.len() >= 2)
    });
    daemon
        .run(&["logs", "greeter"])
        .success()
        .stdout_has("Hello, world!");
    daemon.run(&["rm", "-f", "greeter"]).success();
    daemon.skiff.run(&["image", "prune"]).success();
    assert!(
        blobs(&daemon.skiff).is_empty(),
        "{:?}",
        blobs(&daemon.skiff)
    );
}

/// This machine's address on the interface its default route leaves by (no packet is sent).
fn outward_ip() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    socket
        .connect("192.0.2.255:9")
        .or_else(|_| socket.connect("8.8.8.8:53"))
        .expect("this test needs a non-loopback IPv4 address (a default route)");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    ip.to_string()
}

/// README: plain HTTP is tried only for loopback registries; any other registry is spoken to over
/// TLS unless `--insecure` says otherwise, for push and pull alike.
#[test]
fn plain_http_to_a_registry_off_loopback_needs_insecure() {
    let registry = Registry::start_on(&outward_ip());
    let skiff = Skiff::new();
    let app = app_dir(P2_CLI_HELLO, "", &[]);
    build(&skiff, app.path(), "hello:1.0");
    let remote = registry.url("team/hello:1.0");
    skiff.run(&["tag", "hello:1.0", &remote]).success();

    let refused = skiff.run(&["push", &remote]);
    refused
        .code(125)
        .stderr_has("https://")
        .stderr_has("plain HTTP is tried only for loopback registries or with `--insecure`");
    assert!(!registry.manifest_exists("team/hello", "1.0"));

    skiff.run(&["push", "--insecure", &remote]).success();
    assert!(registry.manifest_exists("team/hello", "1.0"));
    skiff.run(&["rmi", &remote, "hello:1.0"]).success();
    skiff
        .run(&["pull", &remote])
        .code(125)
        .stderr_has("https://")
        .stderr_has("--insecure");
    skiff.run(&["pull", "--insecure", &remote]).success();
    skiff
        .run(&["run", &remote])
        .success()
        .stdout_is("Hello, world!\n");
}

/// Docker's management-command spellings of the image verbs (`docker image ls`, `rm`, `inspect`,
/// `tag`) do what the verbs do; `image inspect` looks only for images.
#[test]
fn image_subcommands_are_the_image_verbs() {
    let skiff = Skiff::new();
    let _dir = build_reader_with_files(&skiff, "reader:1.0");
    let images = skiff.run(&["images"]);
    images.success().stdout_has("reader");
    skiff
        .run(&["image", "ls"])
        .success()
        .stdout_is(&images.stdout);
    skiff
        .run(&["image", "list"])
        .success()
        .stdout_is(&images.stdout);
    skiff
        .run(&["image", "inspect", "reader:1.0"])
        .success()
        .stdout_has("Name:     reader:1.0\n");
    skiff
        .run(&["image", "inspect", "no-such-app"])
        .code(125)
        .stderr_has("no image `no-such-app`");
    skiff
        .run(&["image", "tag", "reader:1.0", "copy:2"])
        .success();
    skiff
        .run(&["image", "tag", "reader:1.0", "team/reader:1.1"])
        .success();
    // `--filter`, as `docker images --filter` reads it.
    let filtered = |filter: &str| {
        skiff
            .run(&["images", "-q", "-f", filter])
            .success()
            .stdout
            .clone()
    };
    assert_eq!(filtered("reference=reader"), "reader:1.0\n");
    assert_eq!(filtered("reference=*:2"), "copy:2\n");
    assert_eq!(filtered("reference=team/*"), "team/reader:1.1\n");
    assert_eq!(filtered("dangling=true"), "");
    skiff
        .run(&["images", "--filter", "since=copy:2"])
        .code(125)
        .stderr_has("`since` is not a filter");
    // `--format`, a Go template per image as Docker's.
    skiff
        .run(&[
            "images",
            "-f",
            "reference=*:2",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ])
        .success()
        .stdout_has("copy:2 sha256:");
    skiff
        .run(&["image", "rm", "reader:1.0", "team/reader:1.1"])
        .success();
    skiff
        .run(&["image", "ls"])
        .success()
        .stdout_lacks("reader")
        .stdout_has("copy");
    // `image prune -a`: asks first, then removes every image no app uses.
    skiff
        .run_with(skiff.command().args(["image", "prune", "-a"]), b"n\n")
        .success()
        .stdout_has("Are you sure you want to continue? [y/N]")
        .stdout_lacks("Untagged");
    skiff
        .run(&["image", "prune", "-a", "-f"])
        .success()
        .stdout_has("Untagged: copy:2")
        .stdout_lacks("Deleted 0 blobs");
    skiff.run(&["image", "ls"]).success().stdout_lacks("copy");
}

/// A module as Spin's Go SDK v2 and Spin 1's SDKs build it (wit-bindgen 0.2's ABI: it exports
/// `handle-http-request` and imports `spin-config`, `key-value`, `sqlite` and
/// `wasi-outbound-http`) is served on its route by `skiff serve` and the daemon, with its
/// variables, stores, database and network grants; its `llm` calls are told that no model runs
/// here.
#[test]
fn a_spin_go_sdk_v2_module_is_served_with_spin_1s_platform() {
    let skiff = Skiff::new();
    let upstream = crate::http::upstream();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(SPIN1_HTTP_P1, dir.path().join("go.wasm")).unwrap();
    let manifest = crate::support::write_file(
        dir.path(),
        "spin.toml",
        format!(
            r#"spin_manifest_version = 2
[application]
name = "gopher"
version = "1.0.0"
[variables]
greeting = {{ default = "hello from spin 1" }}
[[trigger.http]]
route = "/go/..."
component = "go"
[component.go]
source = "go.wasm"
environment = {{ GREETING = "hello from go" }}
key_value_stores = ["default"]
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://{upstream}"]
variables = {{ greeting = "{{{{ greeting }}}}" }}
"#
        ),
    );
    let manifest = manifest.to_str().unwrap();
    let check = |base: &str| {
        let client = reqwest::blocking::Client::new();
        let response = client
            .post(format!("{base}/go/a/b?x=1"))
            .body("hi")
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        assert_eq!(response.headers()["x-handler"], "spin1");
        assert_eq!(
            response.text().unwrap(),
            "POST /go/a/b?x=1\npath-info=/a/b\nbody=hi\n"
        );
        let get = |path: &str| {
            let (status, body) = crate::http::get(&format!("{base}/go/{path}"));
            (status.as_u16(), body)
        };
        assert_eq!(get("env"), (201, "hello from go\n".into()));
        assert_eq!(get("config"), (200, "hello from spin 1\n".into()));
        // The store outlives each request's instance.
        assert_eq!(get("kv"), (200, "1\n".into()));
        assert_eq!(get("kv"), (200, "2\n".into()));
        assert_eq!(get("sqlite"), (200, "42 x\n".into()));
        assert_eq!(
            get(&format!("outbound?http://{upstream}/")),
            (200, "200 upstream ok\n".into())
        );
        // Not in its `allowed_outbound_hosts`: `destination-not-allowed` (case 1).
        let ungranted = crate::support::free_port();
        assert_eq!(
            get(&format!("outbound?http://127.0.0.1:{ungranted}/")),
            (500, "error 1\n".into())
        );
        let traced = client
            .request(reqwest::Method::TRACE, format!("{base}/go/"))
            .send()
            .unwrap();
        assert_eq!(traced.status().as_u16(), 405);
    };
    let server = crate::http::Server::start(&skiff, &["--network", "image", manifest]);
    check(server.url("").trim_end_matches('/'));
    drop(server);

    let daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon
        .run_d("gopher", &["--network", "image", "-p", &port, manifest])
        .success();
    check(&format!("http://127.0.0.1:{port}"));

    // Spin 1's `llm`: linked, and answered that no model runs here.
    let (status, body) = crate::http::get(&format!("http://127.0.0.1:{port}/go/llm"));
    assert_eq!(status.as_u16(), 500);
    assert!(
        body.starts_with("error 1: Skiff runs no AI models, so `llama2-chat` cannot be used"),
        "{body}"
    );
}

/// An image as Spin 1's `spin registry push` published one (its locked app of version 0: the
/// trigger and its `base` in the app's metadata, `allowed_http_hosts`, `config`), of a Spin 1
/// module: pulled from a registry and served by the daemon on its route under the base, with
/// its variables, store and HTTP hosts (applied with `--network image`).
#[test]
fn a_spin_1_image_is_served_as_spin_1_published_it() {
    let registry = Registry::start();
    let upstream = crate::http::upstream();
    let locked = r#"{"spin_lock_version":0,
        "metadata":{"name":"legacy","version":"1.0.0","trigger":{"type":"http","base":"/legacy"}},
        "variables":{"greeting":{"default":"hello from a Spin 1 image"}},
        "triggers":[{"id":"trigger-go","trigger_type":"http",
            "trigger_config":{"component":"go","route":"/go/...","executor":{"type":"spin"}}}],
        "components":[{"id":"go","source":{"content_type":"application/wasm","digest":"{WASM}"},
            "config":{"greeting":"{{ greeting }}"},
            "metadata":{"allowed_http_hosts":["UPSTREAM"],"key_value_stores":["default"]}}]}"#
        .replace("UPSTREAM", &upstream);
    let image = push_spin_app(
        &registry,
        "spin1/legacy",
        &std::fs::read(SPIN1_HTTP_P1).unwrap(),
        &[],
        &locked,
    );
    let daemon = crate::daemon::Daemon::start();
    let port = crate::support::free_port().to_string();
    daemon
        .run_d("legacy", &["--network", "image", "-p", &port, &image])
        .success();
    let get = |path: &str| {
        let (status, body) = crate::http::get(&format!("http://127.0.0.1:{port}{path}"));
        (status.as_u16(), body)
    };
    assert_eq!(
        get("/legacy/go/config"),
        (200, "hello from a Spin 1 image\n".into())
    );
    assert_eq!(get("/legacy/go/kv"), (200, "1\n".into()));
    assert_eq!(
        get(&format!("/legacy/go/outbound?http://{upstream}/")),
        (200, "200 upstream ok\n".into())
    );
    assert_eq!(get("/go/config").0, 404);
}
