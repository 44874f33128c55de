//! Media types Skiff writes and the ones it can run.

/// The CNCF Wasm OCI artifact: config and layer (what `skiff build` writes).
pub use oci_wasm::{
    WASM_LAYER_MEDIA_TYPE as WASM_LAYER, WASM_MANIFEST_CONFIG_MEDIA_TYPE as WASM_CONFIG,
};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Skiff's resolved app config (JSON of `skiff_manifest::AppConfig`), a layer of its own so other
/// tools can ignore it.
pub const SKIFF_APP_CONFIG: &str = "application/vnd.skiff.app.config.v1+json";
/// The app's static files: a deterministic tar, mounted read-only.
pub const SKIFF_FILES: &str = "application/vnd.skiff.files.v1.tar";

/// Wasm layers other tools publish.
pub const RUNWASI_COMPONENT_LAYER: &str =
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";
pub const SPIN_WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// A file of a Spin app (`spin registry push`: a layer per file).
pub const SPIN_DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";
/// The OCI image config, as Spin's images have it.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Spin's locked app (`spin registry push`): a layer, or the config blob in images of Spin
/// before 2.0.
pub const SPIN_APP: &str = "application/vnd.fermyon.spin.application.v1+config";
/// A Spin app's archive of its files (`SPIN_OCI_ARCHIVE_LAYERS`).
pub const SPIN_ARCHIVE_LAYER: &str = "application/vnd.wasm.content.bundle.v1.tar+gzip";
/// wasmCloud's (`wash push`) and the Istio/Envoy Wasm plugin image's "oci" variant.
pub const MODULE_WASM_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";

/// A layer that is a Wasm binary itself.
pub fn is_wasm_layer(media_type: &str) -> bool {
    [
        WASM_LAYER,
        RUNWASI_COMPONENT_LAYER,
        SPIN_WASM_LAYER,
        MODULE_WASM_LAYER,
    ]
    .contains(&media_type)
}

/// A type a tool may give a layer that is a plain file (ORAS: an uncompressed tar, unless told).
pub fn may_be_raw_wasm(media_type: &str) -> bool {
    media_type == "application/octet-stream" || tar_layer(media_type) == Some(Compression::None)
}

/// How a filesystem tar layer is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A filesystem tar layer ("compat" images, as crun runs them), and how it is compressed.
pub fn tar_layer(media_type: &str) -> Option<Compression> {
    match media_type {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Compression::Gzip),
        "application/vnd.oci.image.layer.v1.tar+zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

/// Manifest types `pull` accepts. Without Docker's manifest list, a registry answers a tag of a
/// multi-platform image with its `linux/amd64` manifest, as it would an old Docker client.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    OCI_MANIFEST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
];
