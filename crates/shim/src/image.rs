//! The container's image, read from containerd's content store into a Skiff image store, so that
//! `skiff_image::Image` reads it exactly as `skiff run IMAGE` reads a pulled image: Skiff's own
//! layers (app config, static files), runwasi's component layers, `application/wasm`, and the
//! compat form (a `.wasm` in a tar layer, named by the config's entrypoint).
//!
//! containerd unpacks only tar layers into the rootfs it mounts for the shim; a Wasm layer is
//! content the shim must fetch itself, over containerd's API (as runwasi's shims do).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::content_client::ContentClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::{GetContainerRequest, GetImageRequest, ReadContentRequest};
use containerd_client::tonic::transport::Channel;
use containerd_client::tonic::{Code, Request, Status};
use containerd_client::with_namespace;
use skiff_image::{Store, limits};

/// containerd's API, for one namespace.
pub struct Containerd {
    channel: Channel,
    namespace: String,
}

/// The shim's connections to containerd, one per address, shared by its containers: a node's
/// shim would otherwise connect anew (and handshake HTTP/2) for every container it creates.
fn channels() -> &'static Mutex<HashMap<String, Channel>> {
    static CHANNELS: OnceLock<Mutex<HashMap<String, Channel>>> = OnceLock::new();
    CHANNELS.get_or_init(Mutex::default)
}

impl Containerd {
    /// containerd's API at `address`, on the shim's connection to it (made on first use).
    pub async fn shared(address: &str, namespace: &str) -> anyhow::Result<Self> {
        let known = channels().lock().unwrap().get(address).cloned();
        let channel = match known {
            Some(channel) => channel,
            None => {
                let channel = containerd_client::connect(address)
                    .await
                    .with_context(|| format!("failed to connect to containerd at `{address}`"))?;
                channels()
                    .lock()
                    .unwrap()
                    .insert(address.to_string(), channel.clone());
                channel
            }
        };
        Ok(Containerd {
            channel,
            namespace: namespace.to_string(),
        })
    }

    /// Drops the shared connection to `address`; whether there was one.
    pub fn forget(address: &str) -> bool {
        channels().lock().unwrap().remove(address).is_some()
    }

    /// The name of the container's image; `None` for a container made without one (`ctr run
    /// --rootfs`).
    pub async fn image_of(&self, container: &str) -> anyhow::Result<Option<String>> {
        let request = with_namespace!(
            GetContainerRequest {
                id: container.to_string()
            },
            self.namespace
        );
        let response = ContainersClient::new(self.channel.clone())
            .get(request)
            .await
            .with_context(|| format!("failed to look up container `{container}` in containerd"))?;
        Ok(response
            .into_inner()
            .container
            .map(|c| c.image)
            .filter(|i| !i.is_empty()))
    }

    /// Copies the image's manifest (the Wasm one, when the name is an index), config and layers
    /// into `store`, verified; returns the manifest's digest.
    pub async fn copy_image(&self, name: &str, store: &Store) -> anyhow::Result<String> {
        let request = with_namespace!(
            GetImageRequest {
                name: name.to_string()
            },
            self.namespace
        );
        let image = ImagesClient::new(self.channel.clone())
            .get(request)
            .await
            .with_context(|| format!("failed to look up image `{name}` in containerd"))?
            .into_inner()
            .image
            .with_context(|| format!("containerd knows no image `{name}`"))?;
        let target = image
            .target
            .with_context(|| format!("image `{name}` has no target"))?;
        let digest = target.digest;
        let bytes = self.read_json(&digest, store).await?;
        let Some(entry) = skiff_image::wasm_entry(&digest, &bytes)
            .with_context(|| format!("image `{name}` has no Wasm image to run"))?
        else {
            self.copy_manifest(&digest, &bytes, store).await?;
            return Ok(digest);
        };
        // containerd pulls the node's platform unless told: containerd 1.x leaves out the other
        // entries' manifests, 2.x fetches them but not their layers.
        let copied = async {
            let bytes = self.read_json(&entry, store).await?;
            self.copy_manifest(&entry, &bytes, store).await
        };
        copied.await.map_err(|error| {
            if !is_missing(&error) {
                return error;
            }
            error.context(format!(
                "image `{name}` is multi-platform and containerd has not pulled all of its Wasm \
                 entry `{entry}`: containerd pulls the node's platform unless told; pull it with \
                 `ctr image pull --platform wasi/wasm {name}`, or publish the Wasm image under a \
                 tag of its own"
            ))
        })?;
        Ok(entry)
    }

    /// Copies the manifest `bytes`' config and layers, then the manifest, into `store`, verified.
    async fn copy_manifest(&self, digest: &str, bytes: &[u8], store: &Store) -> anyhow::Result<()> {
        let manifest: serde_json::Value = serde_json::from_slice(bytes)
            .with_context(|| format!("the manifest `{digest}` is not JSON"))?;
        let blobs = std::iter::once(&manifest["config"])
            .chain(manifest["layers"].as_array().into_iter().flatten());
        for blob in blobs {
            let (Some(blob_digest), Some(size)) = (blob["digest"].as_str(), blob["size"].as_u64())
            else {
                bail!("the manifest `{digest}` has a descriptor without digest or size");
            };
            if size > limits::MAX_BLOB {
                bail!(
                    "`{blob_digest}` declares {size} bytes, more than the {}-byte limit for a layer",
                    limits::MAX_BLOB
                );
            }
            if !store.has_blob(blob_digest) {
                // Streamed into the store, never more than declared, named once verified.
                let mut writer = store
                    .writer(blob_digest, size)
                    .with_context(|| format!("failed to store `{blob_digest}`"))?;
                self.read_with(blob_digest, |chunk| Ok(writer.write(chunk)?))
                    .await?;
                writer
                    .finish()
                    .with_context(|| format!("failed to store `{blob_digest}`"))?;
            }
        }
        if !store.has_blob(digest) {
            store
                .put_verified(digest, &mut &bytes[..])
                .with_context(|| format!("failed to store `{digest}`"))?;
        }
        Ok(())
    }

    /// An index or manifest: the store's copy (verified when it was stored, and again as it is
    /// read) when an earlier container stored it, else containerd's.
    async fn read_json(&self, digest: &str, store: &Store) -> anyhow::Result<Vec<u8>> {
        if store.has_blob(digest) {
            return store
                .get_limited(digest, limits::MAX_JSON, "a manifest")
                .with_context(|| format!("failed to read `{digest}` from the shim's store"));
        }
        self.read(digest, limits::MAX_JSON).await
    }

    /// A blob of the content store, at most `max` bytes.
    async fn read(&self, digest: &str, max: u64) -> anyhow::Result<Vec<u8>> {
        let mut data = Vec::new();
        self.read_with(digest, |chunk| {
            data.extend_from_slice(chunk);
            if data.len() as u64 > max {
                bail!("`{digest}` is larger than its {max} bytes");
            }
            Ok(())
        })
        .await?;
        Ok(data)
    }

    /// Hands each chunk of a blob of the content store to `each`.
    async fn read_with(
        &self,
        digest: &str,
        mut each: impl FnMut(&[u8]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let request = with_namespace!(
            ReadContentRequest {
                digest: digest.to_string(),
                offset: 0,
                size: 0,
            },
            self.namespace
        );
        let mut stream = ContentClient::new(self.channel.clone())
            .read(request)
            .await
            .with_context(|| format!("failed to read `{digest}` from containerd"))?
            .into_inner();
        while let Some(chunk) = stream
            .message()
            .await
            .with_context(|| format!("failed to read `{digest}` from containerd"))?
        {
            each(&chunk.data)?;
        }
        Ok(())
    }
}

/// Whether `error` is containerd answering that a blob is not in its content store.
fn is_missing(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<Status>())
        .any(|status| status.code() == Code::NotFound)
}
