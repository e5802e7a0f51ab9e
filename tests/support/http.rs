//! Real HTTP and HTTPS servers on loopback for the checks to talk to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts the HTTP fixture on a free loopback port (after `delay`, if any) and returns its
/// address. The server lives as long as the test process.
pub fn start_after(delay: Duration) -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = std_listener.local_addr().expect("addr");
    if delay.is_zero() {
        serve(std_listener);
    } else {
        // Release the port, then listen on it again later: "the server comes up late".
        drop(std_listener);
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            serve(std::net::TcpListener::bind(addr).expect("re-bind the reserved port"));
        });
    }
    addr
}

/// Starts the HTTP fixture now.
pub fn start() -> SocketAddr {
    start_after(Duration::ZERO)
}

fn serve(listener: std::net::TcpListener) {
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            axum::serve(listener, routes()).await.expect("serve");
        });
    });
}

fn routes() -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"status":"ok","version":"8.0","checks":{"mongo":{"status":"ok"}},"members":[1,2]}"#,
                )
            }),
        )
        .route("/down", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "booting") }))
        .route(
            "/html",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>please wait</html>") }),
        )
        .route(
            "/redirect",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/health")]) }),
        )
        .route(
            "/host",
            get(|headers: HeaderMap| async move {
                let host = headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if host.starts_with("chat.example") {
                    (StatusCode::OK, format!("vhost {host}"))
                } else {
                    (StatusCode::NOT_FOUND, format!("no vhost {host}"))
                }
            }),
        )
        .route(
            "/token",
            get(|headers: HeaderMap| async move {
                if headers.get("x-token").is_some_and(|v| v == "s3cret") {
                    StatusCode::OK
                } else {
                    StatusCode::UNAUTHORIZED
                }
            }),
        )
        .route("/submit", post(|| async { (StatusCode::CREATED, "made") }))
        .route(
            "/stall",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found").into_response() })
}

/// An HTTPS server with a fresh self-signed certificate for `localhost`; returns its address
/// and the certificate's PEM (to pass with `--ca-file`).
pub fn start_tls() -> (SocketAddr, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("self-signed");
    let pem = cert.pem();
    let addr = start_tls_with(&pem, &key.serialize_pem());
    (addr, pem)
}

/// An HTTPS server presenting this PEM certificate chain with this PEM (PKCS#8) key, e.g. ones
/// the `openssl` command made; answers every request `200 secure`.
pub fn start_tls_with(chain_pem: &str, key_pem: &str) -> SocketAddr {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM private key");
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A failed handshake (the client refused our certificate) is expected.
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure")
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    addr
}

/// Sends `request` (a whole HTTP/1.1 request, `Connection: close`) to `address` and returns the
/// status and the body of the answer, as a client with no HTTP library would.
pub fn exchange(address: SocketAddr, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
