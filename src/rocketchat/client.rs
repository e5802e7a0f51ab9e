//! A small Rocket.Chat REST client: the envelopes, errors and limits of the API the checks and
//! init jobs use (facts in the brief; the simulator under `tests/rocketchat-sim` follows the
//! server's source). Errors are classified once, here: transient (refused, booting, rate
//! limited) versus permanent (the API said no).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum RcError {
    /// The server could not be reached (refused, reset, timed out).
    Unreachable(String),
    /// Reachable but not serving the API yet: 5xx, or the web client's HTML page.
    Booting(String),
    /// HTTP 429; `wait` is how long until `X-RateLimit-Reset` (epoch milliseconds).
    RateLimited { wait: Duration, message: String },
    /// The API answered with an error.
    Api {
        status: u16,
        /// `errorType`, or `error` when it is a code such as `totp-required`.
        code: String,
        message: String,
    },
}

impl RcError {
    /// Worth retrying: the server may answer differently in a moment.
    #[must_use]
    pub fn transient(&self) -> bool {
        !matches!(self, RcError::Api { .. })
    }

    /// A short reason for people.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            RcError::Unreachable(r) | RcError::Booting(r) => r.clone(),
            RcError::RateLimited { wait, .. } => format!(
                "rate limited (HTTP 429) for another {}",
                crate::output::human_duration(*wait)
            ),
            RcError::Api {
                status, message, ..
            } => format!("{message} (HTTP {status})"),
        }
    }

    /// The API error code, if any.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            RcError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A request body: JSON, or a urlencoded form (only for asking how a server treats one).
enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
}

/// A logged-in user.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub token: String,
    pub username: String,
    pub roles: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: a debug print must not hand out the session.
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// The client: one base URL, one HTTP client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.shown())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// # Errors
    /// A usage error when the HTTP client cannot be set up.
    pub fn new(base: url::Url, timeout: Duration) -> Result<Self, crate::error::Error> {
        let tls = crate::tls::client_config(&[])
            .map_err(|e| crate::error::Error::usage(format!("cannot set up TLS: {e}")))?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stackctl/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .build()
            .map_err(|e| {
                crate::error::Error::usage(format!("cannot set up the HTTP client: {e}"))
            })?;
        Ok(Self { http, base })
    }

    /// The server's base URL, credentials masked.
    #[must_use]
    pub fn shown(&self) -> String {
        crate::redact::url(&self.base)
    }

    #[must_use]
    pub fn base(&self) -> &url::Url {
        &self.base
    }

    fn url(&self, path: &str) -> url::Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    /// One call. `path` may carry a query string.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> Result<Value, RcError> {
        self.send(method, path, session, body.map(Body::Json), headers)
            .await
    }

    /// One call with a body in either encoding.
    async fn send(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Body>,
        headers: &[(&str, String)],
    ) -> Result<Value, RcError> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut url = self.url(path);
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        let verb = method.clone();
        let mut request = self.http.request(method, url);
        if let Some(s) = session {
            request = request
                .header("X-User-Id", &s.user_id)
                .header("X-Auth-Token", &s.token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match body {
            Some(Body::Json(body)) => {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            Some(Body::Form(pairs)) => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish();
                request = request
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(encoded);
            }
            None => {}
        }
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(|e| {
            let reason = crate::reason::request_error(&e);
            tracing::debug!(method = %verb, %path, %reason, elapsed = ?started.elapsed(), "rocket.chat request failed");
            RcError::Unreachable(reason)
        })?;
        let status = response.status();
        // The path only: tokens travel in headers, never in what is logged.
        tracing::debug!(method = %verb, %path, status = status.as_u16(), elapsed = ?started.elapsed(), "rocket.chat request");
        let reset = response
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        // Never more than a bounded answer in memory, whatever the server streams.
        let body = crate::limits::read_body(response, crate::limits::API_ANSWER_LIMIT)
            .await
            .map_err(|e| RcError::Unreachable(crate::reason::request_error(&e)))?;
        if body.truncated {
            return Err(RcError::Api {
                status: status.as_u16(),
                code: String::new(),
                message: format!(
                    "the answer is larger than {}, not an API answer",
                    crate::limits::human_bytes(crate::limits::API_ANSWER_LIMIT as u64)
                ),
            });
        }
        let text = String::from_utf8_lossy(&body.bytes);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let wait = reset.map_or(Duration::from_secs(1), until_epoch_ms);
            return Err(RcError::RateLimited {
                wait,
                message: text.into_owned(),
            });
        }
        if status.is_server_error() {
            return Err(RcError::Booting(format!(
                "HTTP {} (still booting?)",
                status.as_u16()
            )));
        }
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) if is_json || text.trim_start().starts_with('{') => v,
            _ if text.trim_start().starts_with('<') => {
                return Err(RcError::Booting(
                    "the server answers its HTML page, not the API (still booting?)".to_owned(),
                ));
            }
            _ => {
                return Err(RcError::Api {
                    status: status.as_u16(),
                    code: String::new(),
                    message: format!(
                        "unexpected answer: {}",
                        text.chars().take(80).collect::<String>()
                    ),
                });
            }
        };
        let failed = value.get("success") == Some(&Value::Bool(false))
            || value.get("status") == Some(&json!("error"));
        if status.is_success() && !failed {
            return Ok(value);
        }
        Err(api_error(status.as_u16(), &value))
    }

    /// `GET /api/info`: the version the server reports.
    pub async fn info(&self) -> Result<String, RcError> {
        let info = self.call(Method::GET, "/api/info", None, None, &[]).await?;
        Ok(info
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned())
    }

    /// `POST /api/v1/login`, with a JSON body: the encoding every release accepts (a form body
    /// is refused from 7.6.0 on, brief doctor.md B5).
    pub async fn login(&self, user: &str, password: &str) -> Result<Session, RcError> {
        let body = Body::Json(json!({"user": user, "password": password}));
        self.login_with(body, user).await
    }

    /// `POST /api/v1/login` with an `application/x-www-form-urlencoded` body, as older
    /// third-party clients send it (Jenkins' rocketchatnotifier, `rocketchat_API` before its
    /// fix): only `doctor` uses it, to tell whether this server refuses that encoding.
    pub async fn login_form(&self, user: &str, password: &str) -> Result<Session, RcError> {
        let body = Body::Form(vec![
            ("user".to_owned(), user.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ]);
        self.login_with(body, user).await
    }

    async fn login_with(&self, body: Body, user: &str) -> Result<Session, RcError> {
        let reply = self
            .send(Method::POST, "/api/v1/login", None, Some(body), &[])
            .await?;
        let data = &reply["data"];
        let roles = strings(&data["me"]["roles"]);
        Ok(Session {
            user_id: data["userId"].as_str().unwrap_or_default().to_owned(),
            token: data["authToken"].as_str().unwrap_or_default().to_owned(),
            username: data["me"]["username"].as_str().unwrap_or(user).to_owned(),
            roles,
        })
    }

    /// `POST /api/v1/logout`, best effort: a healthcheck must not pile up login tokens.
    pub async fn logout(&self, session: &Session) {
        let _ = self
            .call(Method::POST, "/api/v1/logout", Some(session), None, &[])
            .await;
    }
}

fn until_epoch_ms(reset_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    // The header comes from the server: a reset years away is still only a bounded wait.
    Duration::from_millis(reset_ms.saturating_sub(now))
        .clamp(Duration::from_millis(50), crate::limits::MAX_DURATION)
}

/// Rocket.Chat's failure envelopes: `{success:false, error, errorType}` or the login's
/// `{status:"error", error, message}` (where `error` is a code such as `totp-required`, or
/// legacy `403` with "User has no password set").
fn api_error(status: u16, value: &Value) -> RcError {
    let error = match &value["error"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let code = value["errorType"]
        .as_str()
        .map_or_else(|| error.clone(), str::to_owned);
    let message = value["message"]
        .as_str()
        .filter(|m| !m.is_empty() && *m != error)
        .map_or_else(|| error.clone(), str::to_owned);
    RcError::Api {
        status,
        code,
        message: if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        },
    }
}

/// The lowercase hex SHA-256 of a password: Rocket.Chat's 2FA password fallback code.
#[must_use]
pub fn password_digest(password: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(password.as_bytes())
        .iter()
        .fold(String::new(), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The strings of a JSON array (a user's roles); anything else is empty.
#[must_use]
pub fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelopes() {
        let e = api_error(
            400,
            &json!({"success": false, "error": "A channel with name 'x' exists [error-duplicate-channel-name]", "errorType": "error-duplicate-channel-name"}),
        );
        assert_eq!(e.code(), Some("error-duplicate-channel-name"));
        let login = api_error(
            401,
            &json!({"status": "error", "error": "totp-required", "message": "TOTP Required"}),
        );
        assert_eq!(login.code(), Some("totp-required"));
        assert!(login.reason().starts_with("TOTP Required"));
        let legacy = api_error(
            401,
            &json!({"status": "error", "error": 403, "message": "User has no password set"}),
        );
        assert_eq!(legacy.reason(), "User has no password set (HTTP 401)");
    }

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        assert_eq!(
            password_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
