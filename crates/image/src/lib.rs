//! Skiff images: an app packaged as an OCI artifact in the CNCF Wasm form, a content-addressed
//! local store for them, and moving them through registries and image-layout tarballs.
//!
//! An image Skiff builds is an OCI image manifest whose config is `application/vnd.wasm.config.v0+json`
//! and whose first layer is the `application/wasm` binary, so other Wasm tooling can read it; Skiff
//! adds its resolved app config and static files as layers of its own media types. It also runs the
//! forms others publish (runwasi component layers, single-component Spin apps, wasmCloud's, tar
//! layers holding a `.wasm`, and the Wasm entry of a multi-platform index). This crate knows nothing of wasmtime: it hands the runtime bytes.

mod builder;
pub mod check;
mod defaults;
pub(crate) mod files;
#[doc(hidden)]
pub mod fuzzing;
mod image;
mod index;
mod layout;
pub mod limits;
pub mod media;
mod registry;
mod spin;
mod spin_build;
mod store;
pub mod toolchain;

pub use builder::{BuildError, Built, build};
pub use defaults::{AppDefaults, merge_grants, merge_limits, network_notice};
pub use files::materialize_files;
pub use image::{Image, ImageError, WasmSource};
pub use index::wasm_entry;
pub use layout::{LayoutError, Loaded, load, save};
pub use oci_client::Reference;
pub use registry::{
    CertificateProblem, Progress, Quiet, RegistryError, auth_for, is_loopback, login, logout, pull,
    push,
};
pub use spin::{NO_HTTP_COMPONENT_HINT, REDIS_BESIDE_OTHERS_HINT, SpinComponent};
pub use spin_build::{build_spin, is_spin_manifest};
pub use store::{HOLD_PREFIX, RefEntry, Store, StoreError, digest_of, is_hold};

#[derive(Debug, thiserror::Error)]
#[error("invalid image reference `{reference}`: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: &'static str,
}

/// Parses `[registry/]name[:tag][@sha256:digest]` as Docker does (`hello:1.0` is
/// `docker.io/library/hello:1.0`; a first component with a `.` or `:`, or `localhost`, is a
/// registry).
///
/// Written out rather than using `oci_client::Reference`'s parser: that one compiles a large
/// regex on first use, about 100 ms per process, which every `skiff run IMAGE` would pay.
pub fn parse_reference(reference: &str) -> Result<Reference, ReferenceError> {
    let err = |reason| ReferenceError {
        reference: reference.to_string(),
        reason,
    };
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or(err("the digest must be `sha256:` and 64 hex digits"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err(
                "the digest must be `sha256:` and 64 lowercase hex digits",
            ));
        }
    }
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return Err(err("a tag is up to 128 letters, digits, `_`, `.` and `-`"));
        }
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, repo)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), repo.to_string())
        }
        Some(_) => ("docker.io".to_string(), name.to_string()),
        None => ("docker.io".to_string(), format!("library/{name}")),
    };
    if registry.is_empty()
        || !registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    {
        return Err(err("the registry is not a valid host[:port]"));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    };
    if repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(err(
            "a repository is lowercase letters and digits, separated by `.`, `_`, `-` or `/`",
        ));
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    })
}

/// The name an image is stored under: the full reference (`docker.io/library/hello:1.0`).
pub fn normalize_name(name: &str) -> String {
    parse_reference(name).map_or_else(|_| name.to_string(), |r| r.whole())
}

/// A stored name as users write it: without Docker Hub's implied `docker.io/library/`.
pub fn display_name(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// Splits a display name into repository and tag (`<none>` for digest references).
pub fn repository_and_tag(name: &str) -> (&str, &str) {
    let name = display_name(name);
    if let Some((repo, _digest)) = name.split_once('@') {
        return (repo, "<none>");
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, "latest"),
    }
}

/// One named image in the store, as `skiff images` and the dashboard list it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageSummary {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// Manifest, config and layers, in bytes (0 if the image cannot be read).
    pub size: u64,
    /// When the name was last pointed at the image, RFC 3339.
    pub created: String,
}

/// The store's named images (not the holds of apps), by name.
pub fn list_images(store: &Store) -> Result<Vec<ImageSummary>, StoreError> {
    Ok(store
        .names()?
        .into_iter()
        .map(|(name, entry)| {
            let (repository, tag) = repository_and_tag(&name);
            let size = Image::components(store, &entry.digest)
                .ok()
                .and_then(|images| Some(images.first()?.size(store)))
                .unwrap_or(0);
            ImageSummary {
                repository: repository.to_string(),
                tag: tag.to_string(),
                digest: entry.digest,
                size,
                created: entry.created,
            }
        })
        .collect())
}

/// Finds a stored image by name (as given or normalized), by full digest, or by a unique digest
/// prefix (as `docker` accepts image IDs); returns the stored name and the manifest digest.
pub fn resolve_local(
    store: &Store,
    reference: &str,
) -> Result<Option<(String, String)>, StoreError> {
    let refs = store.names()?;
    for candidate in [reference.to_string(), normalize_name(reference)] {
        if let Some(entry) = refs.get(&candidate) {
            return Ok(Some((candidate, entry.digest.clone())));
        }
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() >= 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut matches = refs
            .iter()
            .filter(|(_, e)| e.digest["sha256:".len()..].starts_with(hex));
        if let Some((name, entry)) = matches.next() {
            return Ok(Some((name.clone(), entry.digest.clone())));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("hello:1.0"), "docker.io/library/hello:1.0");
        assert_eq!(display_name("docker.io/library/hello:1.0"), "hello:1.0");
        assert_eq!(
            repository_and_tag("127.0.0.1:5000/team/hello:1.0"),
            ("127.0.0.1:5000/team/hello", "1.0")
        );
        assert_eq!(
            repository_and_tag("docker.io/library/hello"),
            ("hello", "latest")
        );
        assert_eq!(
            normalize_name("127.0.0.1:5000/team/hello"),
            "127.0.0.1:5000/team/hello:latest"
        );
        let digest = format!("sha256:{}", "ab".repeat(32));
        for (input, whole) in [
            ("team/app", "docker.io/team/app:latest".to_string()),
            ("localhost/app:v1", "localhost/app:v1".to_string()),
            ("ghcr.io/a/b/c:1.2.3", "ghcr.io/a/b/c:1.2.3".to_string()),
            (
                &format!("reg:5000/app@{digest}"),
                format!("reg:5000/app@{digest}"),
            ),
        ] {
            assert_eq!(parse_reference(input).unwrap().whole(), whole);
        }
        for bad in [
            "Hello:1",
            "hello:",
            "hello:-x",
            "a//b",
            "hello@sha256:12",
            "",
            "x/-y",
        ] {
            assert!(parse_reference(bad).is_err(), "{bad}");
        }
    }
}
