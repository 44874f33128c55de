//! TLS clients of guests: their outgoing HTTPS (`egress`) and `wasi:tls` connections share one
//! rustls configuration, ring with webpki's roots, as `wasmtime run` and `wasmtime serve` verify
//! servers. The provider is named, not read from rustls's process default: the runtime does not
//! depend on who installs that (skiff-image does, for registries).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime_wasi_tls::{TlsProvider, TlsTransport};

/// One client configuration per process (reading the roots per connection would cost each one).
pub(crate) fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| client_config_with(webpki_roots()))
        .clone()
}

/// webpki's roots, which every TLS client of a guest trusts.
pub(crate) fn webpki_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A client configuration that trusts `roots` (webpki's and a Spin component's own CA root for
/// its PostgreSQL server).
pub(crate) fn client_config_with(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// `wasi:tls`'s context for one instance: handshakes over the guest's own streams (a socket it
/// connected under its grants) with [`client_config`].
pub(crate) fn wasi_tls() -> wasmtime_wasi_tls::WasiTlsCtx {
    wasmtime_wasi_tls::WasiTlsCtxBuilder::new()
        .provider(Box::new(Clients))
        .build()
}

struct Clients;

type Handshake = Pin<
    Box<
        dyn Future<Output = Result<Box<dyn wasmtime_wasi_tls::TlsStream>, wasmtime_wasi_tls::Error>>
            + Send,
    >,
>;

impl TlsProvider for Clients {
    fn connect(&self, server_name: String, transport: Box<dyn TlsTransport>) -> Handshake {
        let connector = tokio_rustls::TlsConnector::from(client_config());
        Box::pin(async move {
            let name = rustls::pki_types::ServerName::try_from(server_name)
                .map_err(|e| wasmtime_wasi_tls::Error::msg(format!("invalid server name: {e}")))?;
            // rustls's own error (e.g. `invalid peer certificate: UnknownIssuer`) is the message.
            let stream = connector
                .connect(name, transport)
                .await
                .map_err(wasmtime_wasi_tls::Error::msg)?;
            Ok(Box::new(Connection(stream)) as Box<dyn wasmtime_wasi_tls::TlsStream>)
        })
    }
}

/// A client connection over `S`: as `wasi:tls` streams it, and as a guest's PostgreSQL
/// connection (`spin::postgres`) does.
pub(crate) struct Connection<S>(pub(crate) tokio_rustls::client::TlsStream<S>);

impl wasmtime_wasi_tls::TlsStream for Connection<Box<dyn TlsTransport>> {}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[test]
    fn the_client_config_builds_with_both_providers_compiled_in() {
        let config = super::client_config();
        assert!(!config.alpn_protocols.iter().any(|p| p == b"h2"));
        assert!(Arc::ptr_eq(&config, &super::client_config()));
    }

    /// The test binaries link aws-lc beside ring (reqwest's default), so rustls has no process
    /// default; `wasi:tls` must not depend on one.
    #[test]
    fn the_wasi_tls_context_builds_with_both_providers_compiled_in() {
        let _ = super::wasi_tls();
    }
}
