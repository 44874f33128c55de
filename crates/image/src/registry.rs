//! Pushing to and pulling from OCI registries, and the credentials for them.
//!
//! HTTPS (rustls), the certificate checked; for loopback registries or with `insecure`, Docker's
//! rule (`transport`): HTTPS unchecked if the registry answers it, plain HTTP otherwise. Basic and
//! token auth through `oci-client`. Every pulled blob is verified against its digest before it is
//! stored, and nothing is named until the whole image is in the store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use futures::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::{Deserialize, Serialize};

use crate::image::Image;
use crate::store::{Store, digest_of};
use crate::{limits, media};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach the registry `{registry}`")]
    Unreachable {
        registry: String,
        #[source]
        source: OciDistributionError,
    },
    #[error("the registry `{registry}` sent a certificate this machine does not accept")]
    Untrusted {
        registry: String,
        problem: CertificateProblem,
        #[source]
        source: OciDistributionError,
    },
    #[error("the registry `{registry}` refused the credentials")]
    Unauthorized { registry: String },
    #[error("`{reference}` was not found in the registry")]
    NotFound { reference: String },
    #[error(
        "the registry sent a manifest for `{reference}` whose digest is `{actual}`, not `{expected}`"
    )]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("`{reference}` is not a WebAssembly image")]
    NotWasm {
        reference: String,
        #[source]
        source: crate::ImageError,
    },
    #[error("`{registry}` did not answer as an OCI registry")]
    NotARegistry {
        registry: String,
        #[source]
        source: OciDistributionError,
    },
    #[error("the registry `{registry}` failed")]
    Other {
        registry: String,
        #[source]
        source: OciDistributionError,
    },
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error("the {what} of `{reference}` is {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        reference: String,
        what: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("cannot read or write the credentials file `{path}`")]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the manifest of `{reference}` is not valid")]
    BadManifest {
        reference: String,
        #[source]
        source: serde_json::Error,
    },
}

impl RegistryError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RegistryError::Unreachable { registry, .. } => format!(
                "check that the registry is running and that `{registry}` is the right address; \
                 plain HTTP is tried only for loopback registries or with `--insecure`"
            ),
            RegistryError::Untrusted {
                registry, problem, ..
            } => match problem {
                CertificateProblem::Signer => {
                    "add the certificate of the authority that signed the registry's \
                     certificate to this machine's trust store (Debian and Ubuntu: copy it to \
                     /usr/local/share/ca-certificates/NAME.crt and run `update-ca-certificates`)"
                        .into()
                }
                CertificateProblem::Name => format!(
                    "reach the registry by a name its certificate lists, or have the certificate \
                     issued for `{}`",
                    host_of(registry)
                ),
                CertificateProblem::Dates => {
                    "renew the registry's certificate, or check this machine's clock".into()
                }
            },
            RegistryError::NotARegistry { .. } => {
                "check the address: a registry answers `GET /v2/` with 200, or 401 without \
                 credentials"
                    .into()
            }
            RegistryError::Unauthorized { registry } => {
                format!(
                    "log in with `skiff login {registry} -u USER` (the password is read from stdin)"
                )
            }
            RegistryError::NotFound { .. } => "check the repository name and the tag".into(),
            RegistryError::DigestMismatch { .. } => {
                "the registry or something between us altered the image; nothing was stored".into()
            }
            RegistryError::NotWasm { source, .. } if source.hint().is_some() => {
                return source.hint();
            }
            RegistryError::NotWasm { .. } => {
                "Skiff runs Wasm images: CNCF Wasm artifacts (what `skiff build` makes), runwasi, \
                 single-component Spin and wasmCloud images, and tar layers holding a .wasm"
                    .into()
            }
            RegistryError::Store(e) => return e.hint(),
            _ => return None,
        })
    }
}

/// Reports transfer progress, one blob at a time.
pub trait Progress: Send + Sync {
    fn blob_started(&self, digest: &str, size: u64);
    /// `skipped`: already present at the destination.
    fn blob_finished(&self, digest: &str, skipped: bool);
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {
    fn blob_started(&self, _: &str, _: u64) {}
    fn blob_finished(&self, _: &str, _: bool) {}
}

/// A registry address without its port: `registry.test` of `registry.test:5443`.
fn host_of(registry: &str) -> &str {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => registry,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Whether plain HTTP may be used.
pub fn is_loopback(registry: &str) -> bool {
    let host = host_of(registry);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// rustls's process default, which reqwest (built with `rustls-no-provider`) reads for every
/// client: ring, the one provider linked in. Installed before each client is built; a default
/// installed before (by an earlier call, or by something else) is kept.
fn tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long a registry on loopback (or one called insecure) has to answer HTTPS before it is
/// taken for a plain HTTP one.
const HTTPS_PROBE: std::time::Duration = std::time::Duration::from_secs(2);

/// How a registry is spoken to: over HTTPS, and whether its certificate is checked.
#[derive(Clone, Copy)]
struct Transport {
    https: bool,
    check_certificate: bool,
}

/// Docker's rule: a registry on loopback, or one the user calls insecure (`--insecure`), is spoken
/// to over HTTPS if it answers HTTPS, its certificate not checked, and over plain HTTP otherwise;
/// every other registry over HTTPS, its certificate checked against the system's trust store.
async fn transport(registry: &str, insecure: bool) -> Transport {
    if !insecure && !is_loopback(registry) {
        return Transport {
            https: true,
            check_certificate: true,
        };
    }
    tls_provider();
    let answers_https = match reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .timeout(HTTPS_PROBE)
        .build()
    {
        Ok(probe) => probe
            .get(format!("https://{registry}/v2/"))
            .send()
            .await
            .is_ok(),
        Err(_) => false,
    };
    Transport {
        https: answers_https,
        check_certificate: false,
    }
}

async fn client(registry: &str, insecure: bool) -> Client {
    client_over(transport(registry, insecure).await)
}

fn client_over(transport: Transport) -> Client {
    tls_provider();
    Client::new(ClientConfig {
        protocol: if transport.https {
            ClientProtocol::Https
        } else {
            ClientProtocol::Http
        },
        accept_invalid_certificates: !transport.check_certificate,
        ..Default::default()
    })
}

fn classify(registry: &str, reference: &Reference, error: OciDistributionError) -> RegistryError {
    let registry = registry.to_string();
    if let OciDistributionError::RequestError(e) = &error
        && let Some(problem) = refused_certificate(e)
    {
        return RegistryError::Untrusted {
            registry,
            problem,
            source: error,
        };
    }
    match &error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => {
            RegistryError::Unauthorized { registry }
        }
        OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound {
            reference: reference.whole(),
        },
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    format!("{:?}", e.code).as_str(),
                    "ManifestUnknown" | "NameUnknown" | "BlobUnknown"
                )
            }) =>
        {
            RegistryError::NotFound {
                reference: reference.whole(),
            }
        }
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                format!("{:?}", e.code) == "Unauthorized" || format!("{:?}", e.code) == "Denied"
            }) =>
        {
            RegistryError::Unauthorized { registry }
        }
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => RegistryError::Unauthorized { registry },
        OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
            reference: reference.whole(),
        },
        OciDistributionError::RequestError(e)
            if matches!(e.status().map(|s| s.as_u16()), Some(401 | 403)) =>
        {
            RegistryError::Unauthorized { registry }
        }
        OciDistributionError::RequestError(e) if e.status().is_some_and(|s| s.as_u16() == 404) => {
            RegistryError::NotFound {
                reference: reference.whole(),
            }
        }
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            RegistryError::Unreachable {
                registry,
                source: error,
            }
        }
        _ => RegistryError::Other {
            registry,
            source: error,
        },
    }
}

/// Why a registry's TLS certificate was refused, for the hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// Signed by no authority this machine trusts (self-signed, a private CA), or otherwise bad.
    Signer,
    /// Issued for other names than the one the registry was reached by.
    Name,
    /// Expired, or not valid yet.
    Dates,
}

/// Whether the TLS handshake failed because the registry's certificate was refused, and why.
/// rustls's error sits in `io::Error`s nested in the chain, whose own `source` skips them, so
/// each one is opened.
fn refused_certificate(error: &reqwest::Error) -> Option<CertificateProblem> {
    use rustls::CertificateError as E;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(rustls::Error::InvalidCertificate(why)) = e.downcast_ref::<rustls::Error>() {
            return Some(match why {
                E::NotValidForName | E::NotValidForNameContext { .. } => CertificateProblem::Name,
                E::Expired
                | E::ExpiredContext { .. }
                | E::NotValidYet
                | E::NotValidYetContext { .. } => CertificateProblem::Dates,
                _ => CertificateProblem::Signer,
            });
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => e.source(),
        };
    }
    None
}

/// Pulls `reference` into the store and names it; returns the manifest digest.
pub async fn pull(
    store: &Store,
    reference: &Reference,
    auth: &RegistryAuth,
    insecure: bool,
    progress: &dyn Progress,
) -> Result<String, RegistryError> {
    let registry = reference.resolve_registry().to_string();
    let client = client(&registry, insecure).await;
    let fail = |e| classify(&registry, reference, e);
    let (mut bytes, reported) = client
        .pull_manifest_raw(reference, auth, media::ACCEPTED_MANIFESTS)
        .await
        .map_err(fail)?;
    check_size(reference, &bytes)?;
    check_digest(reference, &bytes, &reported, reference.digest())?;
    // The bytes' own digest: the registry's report may be absent or of another algorithm.
    let mut digest_actual = digest_of(&bytes);
    // An index (a multi-platform image): pull its Wasm entry's manifest by digest.
    let not_wasm = |source| RegistryError::NotWasm {
        reference: reference.whole(),
        source,
    };
    if let Some(entry) = crate::index::wasm_entry(&digest_actual, &bytes).map_err(not_wasm)? {
        let by_digest = reference.clone_with_digest(entry.clone());
        let (entry_bytes, reported) = client
            .pull_manifest_raw(&by_digest, auth, media::ACCEPTED_MANIFESTS)
            .await
            .map_err(fail)?;
        check_size(reference, &entry_bytes)?;
        // Verified against the entry, so the entry is its digest.
        check_digest(reference, &entry_bytes, &reported, Some(&entry))?;
        (bytes, digest_actual) = (entry_bytes, entry);
    }
    let manifest: OciImageManifest =
        serde_json::from_slice(&bytes).map_err(|source| RegistryError::BadManifest {
            reference: reference.whole(),
            source,
        })?;
    // Descriptors are checked before any of them is fetched or becomes a path.
    crate::image::check_descriptors(&digest_actual, &manifest).map_err(|source| {
        RegistryError::NotWasm {
            reference: reference.whole(),
            source,
        }
    })?;
    let pin = store.pin()?;
    let mut added = pin.transaction();
    for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
        if store.has_blob(&blob.digest) {
            progress.blob_finished(&blob.digest, true);
            continue;
        }
        let declared = u64::try_from(blob.size).unwrap_or(u64::MAX);
        if declared > limits::MAX_BLOB {
            return Err(RegistryError::TooLarge {
                reference: reference.whole(),
                what: "layer",
                size: declared,
                limit: limits::MAX_BLOB,
            });
        }
        progress.blob_started(&blob.digest, declared);
        // Streamed to a temp file, never more than the declared size, named once verified.
        let mut writer = added.writer(&blob.digest, declared)?;
        let mut stream = client
            .pull_blob_stream(reference, blob)
            .await
            .map_err(fail)?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| fail(OciDistributionError::IoError(e)))?;
            writer.write(&chunk)?;
        }
        writer.finish()?;
        progress.blob_finished(&blob.digest, false);
    }
    added.put_verified(&digest_actual, &bytes)?;
    // Checked as a run would check it, its files extracted, before it gets a name.
    if let Err(source) = Image::components(store, &digest_actual).and_then(|images| {
        images.iter().try_for_each(|image| {
            added.adopt_from(image.defaults(store)?);
            Ok(())
        })
    }) {
        return Err(RegistryError::NotWasm {
            reference: reference.whole(),
            source,
        });
    }
    added.commit();
    store.set_ref(&reference.whole(), &digest_actual)?;
    Ok(digest_actual)
}

/// A manifest or index over [`limits::MAX_JSON`] is refused before it is parsed.
fn check_size(reference: &Reference, bytes: &[u8]) -> Result<(), RegistryError> {
    if bytes.len() as u64 > limits::MAX_JSON {
        return Err(RegistryError::TooLarge {
            reference: reference.whole(),
            what: "manifest",
            size: bytes.len() as u64,
            limit: limits::MAX_JSON,
        });
    }
    Ok(())
}

fn check_digest(
    reference: &Reference,
    bytes: &[u8],
    reported: &str,
    expected: Option<&str>,
) -> Result<(), RegistryError> {
    let actual = digest_of(bytes);
    for expected in expected
        .into_iter()
        .chain([reported].into_iter().filter(|d| d.starts_with("sha256:")))
    {
        if expected != actual {
            return Err(RegistryError::DigestMismatch {
                reference: reference.whole(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(())
}

/// Pushes the stored image `digest` to `target`, skipping blobs the registry already has.
pub async fn push(
    store: &Store,
    digest: &str,
    target: &Reference,
    auth: &RegistryAuth,
    insecure: bool,
    progress: &dyn Progress,
) -> Result<String, RegistryError> {
    let registry = target.resolve_registry().to_string();
    let client = client(&registry, insecure).await;
    let fail = |e| classify(&registry, target, e);
    let manifest_bytes = store.get(digest)?;
    let manifest: OciImageManifest =
        serde_json::from_slice(&manifest_bytes).map_err(|source| RegistryError::BadManifest {
            reference: target.whole(),
            source,
        })?;
    client
        .auth(target, auth, RegistryOperation::Push)
        .await
        .map_err(fail)?;
    for blob in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        if client
            .blob_exists(target, &blob.digest)
            .await
            .map_err(fail)?
        {
            progress.blob_finished(&blob.digest, true);
            continue;
        }
        progress.blob_started(&blob.digest, blob.size.max(0) as u64);
        let data = store.get(&blob.digest)?;
        client
            .push_blob(target, data, &blob.digest)
            .await
            .map_err(fail)?;
        progress.blob_finished(&blob.digest, false);
    }
    let content_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
    client
        .push_manifest_raw(
            target,
            manifest_bytes,
            content_type
                .parse()
                .expect("media types are valid header values"),
        )
        .await
        .map_err(fail)?;
    Ok(digest.to_string())
}

/// Credentials, as Docker keeps them: `{"auths": {"host:port": {"auth": base64("user:pass")}}}`,
/// in a file only its owner can read.
#[derive(Default, Serialize, Deserialize)]
struct AuthFile {
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Serialize, Deserialize)]
struct AuthEntry {
    auth: String,
}

fn auth_path(root: &Path) -> PathBuf {
    root.join("auth.json")
}

fn read_auths(root: &Path) -> Result<AuthFile, RegistryError> {
    let path = auth_path(root);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
        Err(source) => Err(RegistryError::Credentials { path, source }),
    }
}

/// The stored credentials for `registry`, or anonymous.
pub fn auth_for(root: &Path, registry: &str) -> Result<RegistryAuth, RegistryError> {
    let auths = read_auths(root)?;
    let Some(entry) = auths.auths.get(registry) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&entry.auth)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Ok(match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((user, pass)) => RegistryAuth::Basic(user.to_string(), pass.to_string()),
        None => RegistryAuth::Anonymous,
    })
}

/// Checks the credentials against the registry and stores them (mode 0600).
pub async fn login(
    root: &Path,
    registry: &str,
    user: &str,
    password: &str,
    insecure: bool,
) -> Result<(), RegistryError> {
    let transport = transport(registry, insecure).await;
    let scheme = if transport.https { "https" } else { "http" };
    let probe = Reference::with_tag(
        registry.to_string(),
        "library/skiff-login".into(),
        "latest".into(),
    );
    let failed = |e| classify(registry, &probe, OciDistributionError::RequestError(e));
    tls_provider();
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(!transport.check_certificate)
        .build()
        .map_err(failed)?;
    let url = format!("{scheme}://{registry}/v2/");
    let response = http
        .get(&url)
        .basic_auth(user, Some(password))
        .send()
        .await
        .map_err(failed)?;
    let status = response.status().as_u16();
    let bearer = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("bearer"));
    if status == 401 && bearer {
        // A token registry: the credentials are checked by asking for a token.
        client_over(transport)
            .auth(
                &probe,
                &RegistryAuth::Basic(user.into(), password.into()),
                RegistryOperation::Pull,
            )
            .await
            .map_err(|e| classify(registry, &probe, e))?;
    } else if status == 401 || status == 403 {
        return Err(RegistryError::Unauthorized {
            registry: registry.to_string(),
        });
    } else if !response.status().is_success() {
        // Not a registry's answer to good credentials: nothing is stored. The body is not read
        // (a server that is no registry may send anything, of any size); the status names it.
        return Err(RegistryError::NotARegistry {
            registry: registry.to_string(),
            source: OciDistributionError::ServerError {
                code: status,
                url,
                message: response
                    .status()
                    .canonical_reason()
                    .unwrap_or_default()
                    .to_string(),
            },
        });
    }
    let mut auths = read_auths(root)?;
    auths.auths.insert(
        registry.to_string(),
        AuthEntry {
            auth: base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
        },
    );
    write_auths(root, &auths)
}

/// Forgets the credentials for `registry`; returns whether there were any.
pub fn logout(root: &Path, registry: &str) -> Result<bool, RegistryError> {
    let mut auths = read_auths(root)?;
    let had = auths.auths.remove(registry).is_some();
    write_auths(root, &auths)?;
    Ok(had)
}

fn write_auths(root: &Path, auths: &AuthFile) -> Result<(), RegistryError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let path = auth_path(root);
    let err = |source| RegistryError::Credentials {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(root).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(root).map_err(err)?;
    // NamedTempFile is created 0600; keep it so even before the rename.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(err)?;
    tmp.write_all(&serde_json::to_vec_pretty(auths).expect("serializes"))
        .map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback() {
        for r in [
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(super::is_loopback(r), "{r}");
        }
        for r in ["example.com:5000", "10.0.0.1:5000", "ghcr.io"] {
            assert!(!super::is_loopback(r), "{r}");
        }
    }

    /// A registry whose certificate no trusted authority signed (a self-signed one, as a private
    /// registry has until its CA is added to the system's trust store).
    #[tokio::test]
    async fn a_certificate_nobody_trusts_is_named_with_its_fix() {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};

        let cert =
            CertificateDer::from_pem_slice(include_bytes!("../testdata/untrusted-registry.crt"))
                .unwrap();
        let key =
            PrivateKeyDer::from_pem_slice(include_bytes!("../testdata/untrusted-registry.key"))
                .unwrap();
        super::tls_provider();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let registry = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = acceptor.accept(socket).await;
            }
        });

        let reference: super::Reference = format!("{registry}/team/app:1.0").parse().unwrap();
        let checked = super::Transport {
            https: true,
            check_certificate: true,
        };
        let error = super::client_over(checked)
            .fetch_manifest_digest(&reference, &super::RegistryAuth::Anonymous)
            .await
            .unwrap_err();
        let error = super::classify(&registry, &reference, error);
        assert!(
            matches!(
                error,
                super::RegistryError::Untrusted {
                    problem: super::CertificateProblem::Signer,
                    ..
                }
            ),
            "{error:?}"
        );
        let cause = format!("{:?}", std::error::Error::source(&error));
        assert!(cause.contains("UnknownIssuer"), "{cause}");
        assert!(error.hint().unwrap().contains("update-ca-certificates"));
    }
}
