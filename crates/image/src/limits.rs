//! How big the parts of an image may be. Every size an image declares, and every byte a
//! registry or an archive sends, is checked against these before it is held in memory or
//! written out, so a hostile image gets an error instead of exhausting the host.

/// A manifest, an index, an image config or Skiff's app config: JSON read whole into memory.
/// 4 MiB, the limit the CNCF distribution registry and containerd apply to manifests.
pub const MAX_JSON: u64 = 4 << 20;

/// A layer: a Wasm binary, a files tar, a compat filesystem tar (compressed). 1 GiB.
pub const MAX_BLOB: u64 = 1 << 30;

/// Bytes decompressed from one compressed layer while looking for the Wasm in it, and the
/// size of a Wasm file inside a tar layer: a decompression bomb stops here. 1 GiB.
pub const MAX_UNPACKED: u64 = 1 << 30;

/// Bytes decompressed from a compressed image archive (`skiff load` of a `.tar.gz`): 8 GiB.
pub const MAX_ARCHIVE: u64 = 8 << 30;

/// Entries in a files layer.
pub const MAX_FILES: u64 = 100_000;
