//! Image indexes: OCI indexes and Docker manifest lists, as multi-platform builds publish them
//! (`docker buildx --platform linux/amd64,wasi/wasm`), and which of their entries is the Wasm
//! image to run.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::image::{ImageError, is_digest};

/// Enough of an index to choose an entry. An index is told from an image manifest by its
/// `manifests` list: its `mediaType` is optional in the OCI spec, and Docker's manifest list
/// has its own.
#[derive(Deserialize)]
struct Index {
    manifests: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    digest: String,
    platform: Option<Platform>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

impl Entry {
    /// BuildKit's build attestations (provenance, SBOMs) ride along as `unknown/unknown` entries.
    fn is_attestation(&self) -> bool {
        self.annotations.contains_key("vnd.docker.reference.type")
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }

    fn is_wasm(&self) -> bool {
        self.platform
            .as_ref()
            .is_some_and(|p| p.architecture == "wasm" || p.os.starts_with("wasi"))
    }
}

/// When `bytes` (the blob `digest`) are an index rather than an image manifest, the digest of
/// the entry to run: the one for a Wasm platform (`wasi/wasm`, `wasip2/wasm`, ...), or else the
/// first that names no platform. An index whose entries are all for other platforms is refused,
/// naming them. `None` for anything that is not an index (the manifest's own reader judges it).
pub fn wasm_entry(digest: &str, bytes: &[u8]) -> Result<Option<String>, ImageError> {
    let Ok(Index {
        manifests: Some(entries),
    }) = serde_json::from_slice(bytes)
    else {
        return Ok(None);
    };
    let images: Vec<&Entry> = entries.iter().filter(|e| !e.is_attestation()).collect();
    let chosen = images
        .iter()
        .find(|e| e.is_wasm())
        .or_else(|| images.iter().find(|e| e.platform.is_none()))
        .ok_or_else(|| ImageError::NoWasmPlatform {
            digest: digest.to_string(),
            platforms: images
                .iter()
                .filter_map(|e| e.platform.as_ref())
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if !is_digest(&chosen.digest) {
        return Err(ImageError::BadDescriptorDigest {
            digest: digest.to_string(),
            bad: chosen.digest.clone(),
        });
    }
    Ok(Some(chosen.digest.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn pick(index: serde_json::Value) -> Result<Option<String>, ImageError> {
        wasm_entry("sha256:index", &serde_json::to_vec(&index).unwrap())
    }

    fn entry(digest: &str, platform: Option<(&str, &str)>) -> serde_json::Value {
        let mut entry = serde_json::json!({"mediaType": "m", "digest": digest, "size": 1});
        if let Some((os, architecture)) = platform {
            entry["platform"] = serde_json::json!({"os": os, "architecture": architecture});
        }
        entry
    }

    #[test]
    fn the_wasm_platform_wins_wherever_it_is() {
        let index = serde_json::json!({"manifests": [
            entry(A, Some(("linux", "amd64"))), entry(B, Some(("wasi", "wasm")))]});
        assert_eq!(pick(index).unwrap().as_deref(), Some(B));
        let index = serde_json::json!({"manifests": [
            entry(A, Some(("unknown", "unknown"))), entry(B, Some(("wasip2", "wasm")))]});
        assert_eq!(pick(index).unwrap().as_deref(), Some(B));
    }

    #[test]
    fn an_entry_without_platform_is_taken_when_none_is_wasm() {
        let index = serde_json::json!({"manifests": [entry(A, None)]});
        assert_eq!(pick(index).unwrap().as_deref(), Some(A));
    }

    #[test]
    fn other_platforms_only_are_named_in_the_error() {
        let index = serde_json::json!({"manifests": [
            entry(A, Some(("linux", "amd64"))), entry(B, Some(("unknown", "unknown")))]});
        let error = pick(index).unwrap_err().to_string();
        assert!(error.contains("linux/amd64"), "{error}");
        assert!(!error.contains("unknown"), "{error}");
    }

    #[test]
    fn manifests_and_junk_are_not_indexes_and_bad_digests_are_refused() {
        assert!(pick(serde_json::json!({"layers": []})).unwrap().is_none());
        assert!(wasm_entry("d", b"not json").unwrap().is_none());
        let index = serde_json::json!({"manifests": [entry("/", Some(("wasi", "wasm")))]});
        assert!(matches!(
            pick(index),
            Err(ImageError::BadDescriptorDigest { .. })
        ));
    }
}
