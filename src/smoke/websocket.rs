//! The front door's websocket upgrade (RFC 6455 opening handshake) on Rocket.Chat's realtime
//! endpoint, `/websocket`: a proxy that drops `Upgrade`/`Connection` (hop-by-hop headers)
//! answers 200 or 400 instead of `101 Switching Protocols`, and the web client hangs.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::step::Failure;

/// The GUID RFC 6455 appends to the key.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Asks `base` (e.g. `http://nginx:80`) to upgrade `/websocket` to a websocket, for `vhost`
/// when given (sent as `Host` and TLS name, connecting to `base`'s address).
pub async fn upgrade(
    base: &url::Url,
    vhost: Option<&str>,
    timeout: Duration,
) -> Result<String, Failure> {
    let (client, url) = front_door_client(base, "/websocket", vhost, timeout, false).await?;
    let key = base64::engine::general_purpose::STANDARD.encode(nonce());
    let response = client
        .get(url.clone())
        .header(reqwest::header::CONNECTION, "Upgrade")
        .header(reqwest::header::UPGRADE, "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", &key)
        .send()
        .await
        .map_err(|e| Failure::new(crate::reason::request_error(&e)))?;
    let status = response.status();
    let hint = "the proxy must pass the upgrade on — nginx needs `proxy_http_version 1.1`, \
                `proxy_set_header Upgrade $http_upgrade` and `proxy_set_header Connection \"upgrade\"` \
                on the location that serves Rocket.Chat — and the server behind it must accept \
                websockets on `/websocket`";
    if status != reqwest::StatusCode::SWITCHING_PROTOCOLS {
        return Err(Failure::new(format!(
            "`{}` answered HTTP {}, not 101 Switching Protocols",
            url.path(),
            status.as_u16()
        ))
        .hint(hint));
    }
    let accept = response
        .headers()
        .get("sec-websocket-accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if accept != accept_for(&key) {
        return Err(Failure::new(
            "101, but `Sec-WebSocket-Accept` does not answer our key: something between us and Rocket.Chat rewrote the handshake",
        )
        .hint(hint));
    }
    Ok(format!(
        "`{}` upgraded to a websocket (101){}",
        url.path(),
        vhost.map(|v| format!(" for `{v}`")).unwrap_or_default()
    ))
}

/// An HTTP/1.1 client for `path` on `base` (e.g. `http://nginx:80`), asking for `vhost` when
/// given (sent as `Host` and TLS name, connecting to `base`'s address), and that URL.
/// Unless `verify_tls`, self-signed certificates are accepted: what the front door does with a
/// request is checked here, not its certificate.
///
/// # Errors
/// `base` cannot take the path, its name does not resolve, or `vhost` is not a host name.
pub async fn front_door_client(
    base: &url::Url,
    path: &str,
    vhost: Option<&str>,
    timeout: Duration,
    verify_tls: bool,
) -> Result<(reqwest::Client, url::Url), Failure> {
    let mut url = base
        .join(path)
        .map_err(|e| Failure::new(format!("`{base}` cannot take a path: {e}")))?;
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .http1_only()
        .no_proxy()
        .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")));
    // The proxy's own certificate is another question (doctor's N4): unless asked to verify it,
    // these probes look past it.
    builder = if verify_tls {
        let tls = crate::tls::client_config(&[])
            .map_err(|e| Failure::new(format!("cannot set up TLS: {e}")))?;
        builder.use_preconfigured_tls(tls)
    } else {
        builder.danger_accept_invalid_certs(true)
    };
    if let Some(vhost) = vhost {
        let host = base.host_str().unwrap_or_default();
        let port = base.port_or_known_default().unwrap_or(80);
        let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((unbracketed, port))
            .await
            .map_err(|e| Failure::new(format!("cannot resolve `{host}`: {e}")))?
            .collect();
        url.set_host(Some(vhost))
            .map_err(|e| Failure::new(format!("`{vhost}` cannot be a host: {e}")))?;
        builder = builder.resolve_to_addrs(vhost, &addrs);
    }
    let client = builder
        .build()
        .map_err(|e| Failure::new(format!("cannot set up the HTTP client: {e}")))?;
    Ok((client, url))
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
#[must_use]
pub fn accept_for(key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// Sixteen bytes that differ per handshake (the key need not be secret, only fresh).
fn nonce() -> [u8; 16] {
    use sha2::Digest as _;
    let seed = format!(
        "{:?}{}{:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    let digest = sha2::Sha256::digest(seed.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_rfc_example_key() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    /// A one-request server: answers the handshake properly, or with `status` and no upgrade.
    async fn server(upgrade: bool) -> (url::Url, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("sec-websocket-key: "))
                .unwrap_or_default()
                .trim()
                .to_owned();
            let answer = if upgrade {
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_for(&key)
                )
            } else {
                "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            };
            socket.write_all(answer.as_bytes()).await.unwrap();
            text
        });
        (url::Url::parse(&format!("http://{addr}")).unwrap(), task)
    }

    #[tokio::test]
    async fn a_proper_upgrade_passes_with_the_virtual_host_asked_for() {
        let (url, request) = server(true).await;
        let detail = upgrade(&url, Some("chat.example.org"), Duration::from_secs(3))
            .await
            .unwrap();
        assert!(detail.contains("upgraded"), "{detail}");
        let request = request.await.unwrap();
        assert!(request.starts_with("GET /websocket HTTP/1.1"), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("host: chat.example.org"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_proxy_that_drops_the_upgrade_fails_with_the_fix() {
        let (url, _request) = server(false).await;
        let failure = upgrade(&url, None, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(
            failure.reason,
            "`/websocket` answered HTTP 400, not 101 Switching Protocols"
        );
        assert!(failure.hint.unwrap().contains("proxy_http_version 1.1"));
    }
}
