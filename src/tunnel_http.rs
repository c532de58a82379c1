//! One HTTP/1.1 GET over a byte stream the caller opened: a tunnel through a host (an SSH
//! direct-tcpip channel), so a host's private address is reached from the host's side with
//! nothing installed there. `https` runs TLS (rustls, the platform's trust store, as
//! reqwest trusts it for `wait::http`) inside the tunnel.

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::wait::{Answer, error_chain};

/// Where a GET goes: the URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    /// A name or an address, as the host connects to it (no brackets around IPv6).
    pub host: String,
    pub port: u16,
    /// `Host:` as the URL gives it (`example.com`, `example.com:8080`, `[::1]:8080`).
    pub authority: String,
    /// Path and query (`/health?full=1`).
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let u = reqwest::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let tls = match u.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(format!("{url:?}: only http and https URLs can be waited for, not {s}")),
        };
        let name = match u.host_str() {
            Some(n) if !n.is_empty() => n,
            _ => return Err(format!("{url:?} names no host")),
        };
        // An IPv6 address is written in brackets in a URL, bare on the wire.
        let host = name.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = u.port_or_known_default().expect("http and https have default ports");
        let authority = match u.port() {
            Some(p) => format!("{name}:{p}"),
            None => name.to_string(),
        };
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        };
        Ok(Target {
            tls,
            host,
            port,
            authority,
            path,
        })
    }
}

/// A stream a GET can go over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// GETs `target` over `stream` (TLS first for https; `insecure` accepts any certificate),
/// reading the body only when `body` is asked for.
pub async fn get(stream: Box<dyn Stream>, target: &Target, insecure: bool, body: bool) -> Result<Answer, String> {
    match target.tls {
        false => exchange(stream, target, body).await,
        true => {
            let config = tls_config(insecure)?;
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                .map_err(|e| format!("TLS: {} is not a name a certificate can have: {e}", target.host))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, stream)
                .await
                // (as `wait::http` says it: the certificate is part of connecting)
                .map_err(|e| format!("cannot connect: {}", error_chain(&e)))?;
            exchange(Box::new(tls), target, body).await
        }
    }
}

async fn exchange(stream: Box<dyn Stream>, target: &Target, want_body: bool) -> Result<Answer, String> {
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
        .await
        .map_err(|e| error_chain(&e))?;
    // The connection is driven beside the request; it ends when the answer is read.
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(target.path.as_str())
        .header(hyper::header::HOST, target.authority.as_str())
        .header(
            hyper::header::USER_AGENT,
            concat!("runbook/", env!("CARGO_PKG_VERSION")),
        )
        .header(hyper::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("cannot make the request: {e}"))?;
    let answer = async {
        let resp = sender.send_request(req).await.map_err(|e| error_chain(&e))?;
        let status = resp.status();
        let body = match want_body {
            true => {
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| error_chain(&e))?
                    .to_bytes();
                Some(String::from_utf8_lossy(&bytes).into_owned())
            }
            false => None,
        };
        Ok(Answer { status, body })
    }
    .await;
    driver.abort();
    answer
}

fn tls_config(insecure: bool) -> Result<rustls::ClientConfig, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match insecure {
        false => builder
            .with_platform_verifier()
            .map_err(|e| format!("TLS: cannot load the trusted certificates: {e}"))?
            .with_no_client_auth(),
        true => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `insecure: true`: any certificate is accepted (signatures are still checked, so the
/// handshake is a real one).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_as_the_host_connects() {
        let t = Target::parse("http://127.0.0.1:8000/health?full=1").unwrap();
        assert_eq!(
            t,
            Target {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8000,
                authority: "127.0.0.1:8000".into(),
                path: "/health?full=1".into(),
            }
        );
        let t = Target::parse("https://[::1]/").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.authority.as_str()),
            (true, "::1", 443, "[::1]")
        );
        let t = Target::parse("http://app.internal").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        assert!(Target::parse("ftp://x/").unwrap_err().contains("only http and https"));
        assert!(Target::parse("not a url").unwrap_err().starts_with("invalid URL"));
    }

    /// A GET over an in-memory stream to a tiny server: status, headers and a chunked body
    /// are read as HTTP/1.1 says.
    #[tokio::test]
    async fn a_get_reads_the_status_and_a_chunked_body() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(4096);
        let serve = tokio::spawn(async move {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = server.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
            }
            server
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nnot y\r\n3\r\net!\r\n0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let target = Target::parse("http://app.internal:3000/ready").unwrap();
        let a = get(Box::new(client), &target, false, true).await.unwrap();
        assert_eq!(a.status.as_u16(), 503);
        assert_eq!(a.body.as_deref(), Some("not yet!"));
        let req = serve.await.unwrap();
        assert!(req.starts_with("GET /ready HTTP/1.1\r\n"), "{req}");
        assert!(req.to_lowercase().contains("host: app.internal:3000\r\n"), "{req}");
    }
}
