//! The few Engine API answers whose fields bollard's models leave out — a Swarm task's
//! `NetworksAttachments`, the addresses the manager gave it on each network whichever node runs
//! it — read as JSON with one plain HTTP/1 `GET` on the daemon's socket, bounded.

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

/// The hard limit of one request, connection included.
const LIMIT: Duration = Duration::from_secs(10);

/// Where the daemon listens, as bollard's `connect_with_local_defaults` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

/// `DOCKER_HOST` (`unix://PATH`, `tcp://HOST:PORT`), else the local socket. `None` for what
/// this plain client does not speak (`ssh://`, TLS): the caller falls back on what bollard has.
fn endpoint(docker_host: Option<&str>) -> Option<Endpoint> {
    match docker_host.filter(|h| !h.is_empty()) {
        None => Some(Endpoint::Unix(PathBuf::from("/var/run/docker.sock"))),
        Some(host) => {
            if let Some(path) = host.strip_prefix("unix://") {
                Some(Endpoint::Unix(PathBuf::from(path)))
            } else if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
                None
            } else {
                host.strip_prefix("tcp://")
                    .or_else(|| host.strip_prefix("http://"))
                    .map(|addr| Endpoint::Tcp(addr.trim_end_matches('/').to_owned()))
            }
        }
    }
}

/// The daemon's unix socket as this process reaches it (`DOCKER_HOST=unix://PATH`, else the
/// local default); `None` for a tcp or TLS daemon. The backup's guard container mounts it.
#[must_use]
pub fn unix_socket() -> Option<PathBuf> {
    match endpoint(std::env::var("DOCKER_HOST").ok().as_deref())? {
        Endpoint::Unix(path) => Some(path),
        Endpoint::Tcp(_) => None,
    }
}

/// `GET /vMAJOR.MINOR{path}` as JSON; the error says why, for a debug event.
pub async fn get_json(version: (u32, u32), path: &str) -> Result<serde_json::Value, String> {
    let docker_host = std::env::var("DOCKER_HOST").ok();
    let endpoint = endpoint(docker_host.as_deref())
        .ok_or_else(|| "DOCKER_HOST is not a unix or plain tcp address".to_owned())?;
    let uri = format!("/v{}.{}{path}", version.0, version.1);
    let body = tokio::time::timeout(LIMIT, async {
        match &endpoint {
            Endpoint::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
                get(TokioIo::new(stream), &uri).await
            }
            Endpoint::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
                get(TokioIo::new(stream), &uri).await
            }
        }
    })
    .await
    .map_err(|_| format!("no answer to GET {uri} within {}s", LIMIT.as_secs()))??;
    serde_json::from_slice(&body).map_err(|e| format!("GET {uri}: not JSON: {e}"))
}

async fn get<I>(io: I, uri: &str) -> Result<Bytes, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(uri)
        .header(hyper::header::HOST, "docker")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("GET {uri}: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("GET {uri}: {e}"))?
        .to_bytes();
    driver.abort();
    if !status.is_success() {
        return Err(format!(
            "GET {uri}: {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    Ok(body)
}

/// A task's address on a network, from its `NetworksAttachments` (`10.0.1.3/24` → `10.0.1.3`).
#[must_use]
pub fn attachment_address(task: &serde_json::Value, network: &str) -> Option<String> {
    attachment_addresses(task)
        .into_iter()
        .find(|(name, _)| name == network)
        .map(|(_, address)| address)
}

/// Every address of a task, network name → address, from its `NetworksAttachments` (the
/// ingress network included).
#[must_use]
pub fn attachment_addresses(task: &serde_json::Value) -> Vec<(String, String)> {
    let Some(attachments) = task.get("NetworksAttachments").and_then(|a| a.as_array()) else {
        return Vec::new();
    };
    attachments
        .iter()
        .filter_map(|a| {
            let name = a.pointer("/Network/Spec/Name")?.as_str()?.to_owned();
            let address = a
                .get("Addresses")?
                .as_array()?
                .iter()
                .filter_map(|a| a.as_str())
                .map(|a| a.split('/').next().unwrap_or(a).to_owned())
                .find(|a| !a.is_empty())?;
            Some((name, address))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_docker_host_as_bollard_reads_it() {
        assert_eq!(
            endpoint(None),
            Some(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            endpoint(Some("unix:///run/n1/docker.sock")),
            Some(Endpoint::Unix("/run/n1/docker.sock".into()))
        );
        assert_eq!(
            endpoint(Some("tcp://10.0.0.1:2375")),
            Some(Endpoint::Tcp("10.0.0.1:2375".into()))
        );
        assert_eq!(endpoint(Some("ssh://me@host")), None);
    }

    #[test]
    fn a_task_address_is_read_from_its_network_attachment() {
        // As Engine 20.10 answers `GET /tasks/ID` for a task on two overlays.
        let task = serde_json::json!({
            "ID": "kplltkbhya2b",
            "NetworksAttachments": [
                {"Network": {"ID": "a", "Spec": {"Name": "ingress"}}, "Addresses": ["10.0.0.7/24"]},
                {"Network": {"ID": "b", "Spec": {"Name": "demo_default"}}, "Addresses": ["10.0.1.3/24"]}
            ]
        });
        assert_eq!(
            attachment_address(&task, "demo_default").as_deref(),
            Some("10.0.1.3")
        );
        assert_eq!(attachment_address(&task, "other"), None);
        assert_eq!(
            attachment_addresses(&task),
            [
                ("ingress".to_owned(), "10.0.0.7".to_owned()),
                ("demo_default".to_owned(), "10.0.1.3".to_owned())
            ]
        );
        assert_eq!(
            attachment_address(&serde_json::json!({"ID": "x"}), "demo_default"),
            None
        );
    }
}
