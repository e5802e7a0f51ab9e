//! A small GitLab client: the REST API v4 with a personal access token, and the health
//! endpoints. Errors are classified once, here: transient (refused, the bundled nginx's 502
//! page while Puma starts, 5xx, rate limits) versus the API's answers. Bodies are read up to
//! a cap, never whole, as `check http` does.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::Error;
use crate::reason::request_error;

/// The most of a body the client reads.
const BODY_LIMIT: usize = 1024 * 1024;

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum GlError {
    /// The server could not be reached (refused, reset, timed out).
    Unreachable(String),
    /// Reachable but not serving the API yet: 5xx, or an HTML page where JSON was expected.
    Booting(String),
    /// HTTP 429; `wait` comes from `Retry-After`.
    RateLimited { wait: Duration, message: String },
    /// The API answered with an error.
    Api {
        status: u16,
        /// `error` of an OAuth-style answer, e.g. `insufficient_scope`.
        code: Option<String>,
        message: String,
    },
}

impl GlError {
    /// Worth retrying: GitLab may answer differently in a moment.
    #[must_use]
    pub fn transient(&self) -> bool {
        !matches!(self, GlError::Api { .. })
    }

    /// A short reason for people.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            GlError::Unreachable(r) | GlError::Booting(r) => r.clone(),
            GlError::RateLimited { wait, .. } => format!(
                "rate limited (HTTP 429) for another {}",
                crate::output::human_duration(*wait)
            ),
            GlError::Api {
                status, message, ..
            } => format!("{message} (HTTP {status})"),
        }
    }

    /// The HTTP status of an API answer.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            GlError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One plain answer (status, the start of the body) from a health endpoint.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// The client: one base URL, one HTTP client, an optional token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Client")
            .field("base", &self.shown())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// # Errors
    /// A usage error when the HTTP client cannot be set up.
    pub fn new(base: url::Url, token: Option<String>, timeout: Duration) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| Error::usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { http, base, token })
    }

    /// The server's base URL, credentials masked.
    #[must_use]
    pub fn shown(&self) -> String {
        crate::redact::url(&self.base)
    }

    /// `path` under the base URL (which may carry a relative URL root, e.g. `/gitlab`). Already
    /// percent-encoded segments (`ops%2Fchat`) are kept as they are.
    fn url(&self, path: &str) -> url::Url {
        let mut url = self.base.clone();
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url.set_query((!query.is_empty()).then_some(query));
        url
    }

    /// One unauthenticated GET of a health endpoint (`/-/readiness`, `/-/health`).
    ///
    /// # Errors
    /// Why no answer came (refused, timed out, reset).
    pub async fn probe(&self, path: &str) -> Result<Answer, String> {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .map_err(|e| request_error(&e))?;
        let status = response.status().as_u16();
        let body = read_capped(response).await?;
        Ok(Answer {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// One call of the API (`path` under `/api/v4`, may carry a query string), with the token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, GlError> {
        let mut request = self
            .http
            .request(method, self.url(&format!("/api/v4{path}")));
        if let Some(token) = &self.token {
            let mut value =
                reqwest::header::HeaderValue::from_str(token).map_err(|_| GlError::Api {
                    status: 0,
                    code: None,
                    message: "the token is not a valid header value".to_owned(),
                })?;
            value.set_sensitive(true);
            request = request.header("PRIVATE-TOKEN", value);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|e| GlError::Unreachable(request_error(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = read_capped(response).await.map_err(GlError::Unreachable)?;
        let text = String::from_utf8_lossy(&bytes);
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(GlError::RateLimited {
                wait: Duration::from_secs(retry_after.unwrap_or(1).max(1)),
                message: api_message(&text),
            });
        }
        if status.is_server_error() {
            return Err(GlError::Booting(format!(
                "HTTP {} (GitLab is still starting?)",
                status.as_u16()
            )));
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(v) if status.is_success() => Ok(v),
            Ok(v) => Err(GlError::Api {
                status: status.as_u16(),
                code: v["error"]
                    .as_str()
                    .filter(|_| v.get("error_description").is_some())
                    .map(str::to_owned),
                message: message_of(&v),
            }),
            Err(_) if text.trim_start().starts_with('<') => Err(GlError::Booting(format!(
                "HTTP {}: an HTML page instead of the API (GitLab is still starting?)",
                status.as_u16()
            ))),
            Err(_) if status.is_success() && text.trim().is_empty() => Ok(Value::Null),
            Err(_) => Err(GlError::Api {
                status: status.as_u16(),
                code: None,
                message: format!(
                    "unexpected answer: {}",
                    text.chars().take(80).collect::<String>()
                ),
            }),
        }
    }
}

/// GitLab's error envelopes: `{"message": "404 Project Not Found"}`, `{"message": {"url":
/// ["is blocked"]}}`, `{"error": "url is missing"}` or the OAuth-style `{"error":
/// "insufficient_scope", "error_description": "..."}`.
fn message_of(v: &Value) -> String {
    match (&v["message"], &v["error"], &v["error_description"]) {
        (Value::String(m), _, _) => m.clone(),
        (Value::Object(fields), _, _) => fields
            .iter()
            .map(|(k, msgs)| match msgs {
                Value::Array(list) => format!(
                    "{k} {}",
                    list.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Value::String(s) if k == "error" => s.clone(),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join("; "),
        (_, Value::String(e), Value::String(d)) => format!("{e}: {d}"),
        (_, Value::String(e), _) => e.clone(),
        _ => "no message".to_owned(),
    }
}

fn api_message(text: &str) -> String {
    serde_json::from_str::<Value>(text).map_or_else(|_| text.trim().to_owned(), |v| message_of(&v))
}

/// Reads at most [`BODY_LIMIT`] bytes of a body.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| request_error(&e))? {
        let room = BODY_LIMIT.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= BODY_LIMIT {
            break;
        }
    }
    Ok(body)
}

/// A project path as one URL segment: `ops/chat` → `ops%2Fchat` (doc/api/rest/_index.md,
/// "Namespaced paths"); a numeric id stays as it is.
#[must_use]
pub fn project_segment(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.trim_matches('/').as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn error_envelopes() {
        assert_eq!(
            message_of(&json!({"message": "404 Project Not Found"})),
            "404 Project Not Found"
        );
        assert_eq!(
            message_of(
                &json!({"message": {"url": ["is blocked: Requests to localhost are not allowed"]}})
            ),
            "url is blocked: Requests to localhost are not allowed"
        );
        assert_eq!(
            message_of(&json!({"error": "url is missing"})),
            "url is missing"
        );
        assert_eq!(
            message_of(
                &json!({"error": "insufficient_scope", "error_description": "The request requires higher privileges than provided by the access token."})
            ),
            "insufficient_scope: The request requires higher privileges than provided by the access token."
        );
        assert_eq!(
            message_of(
                &json!({"message": {"error": "This endpoint has been requested too many times. Try again later."}})
            ),
            "This endpoint has been requested too many times. Try again later."
        );
    }

    #[test]
    fn project_paths_are_one_segment() {
        assert_eq!(project_segment("ops/chat"), "ops%2Fchat");
        assert_eq!(project_segment("/a/b.c/"), "a%2Fb.c");
        assert_eq!(project_segment("42"), "42");
    }
}
