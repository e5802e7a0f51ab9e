//! `serve`'s routes beyond health and metrics: the page, the badges and the JSON API. Reads
//! take the store's lock only to gather rows (rendering runs without it); writes (incident
//! updates, maintenance windows) need the bearer token and take a small JSON body.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the status page (HTML) |
//! | `GET /badge/{check}/uptime/{24h\|7d\|30d}.svg`, `/badge/{check}/health.svg` | badges |
//! | `GET /api/status` | every check: state, uptimes, open incidents, maintenance |
//! | `GET /api/incidents/{id}` | one incident and its timeline |
//! | `POST /api/incidents/{id}/updates` | `{"status": "identified", "message": "..."}` |
//! | `POST /api/maintenance` | `{"services": [...], "start": RFC3339, "end"\|"duration", "message"}` |

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::app::{App, text};
use super::state::CheckState;
use super::store::{self, DAY_MS, locked, now_ms};
use super::{incidents, page};

/// A write's body: far above any update, small enough to bound memory.
const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send it.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The statuses of an incident (Cachet's, `../shared/brief/status.md` §3).
pub const STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

fn typed(mut response: Response<Full<Bytes>>, kind: &'static str) -> Response<Full<Bytes>> {
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

fn json_reply(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    typed(text(status, value.to_string()), "application/json")
}

fn problem(status: StatusCode, message: &str, hint: &str) -> Response<Full<Bytes>> {
    json_reply(status, &json!({"error": message, "hint": hint}))
}

fn internal(e: &crate::error::Error) -> Response<Full<Bytes>> {
    tracing::warn!("{}", e.message());
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        e.message(),
        "see serve's log",
    )
}

/// `GET /`.
pub fn page(app: &App) -> Response<Full<Bytes>> {
    let html = if let Some(fresh) = app.cached_page() {
        fresh
    } else {
        let started = std::time::Instant::now();
        let now = now_ms();
        let checks = app.state.snapshot();
        let data = match page::PageData::read(&locked(&app.store), &checks, now) {
            Ok(data) => data,
            Err(e) => return internal(&e),
        };
        let html = Bytes::from(page::render(&checks, &data, &app.graph, now));
        tracing::debug!(
            ms = started.elapsed().as_secs_f64() * 1000.0,
            bytes = html.len(),
            "page rendered"
        );
        app.cache_page(html.clone());
        html
    };
    let mut response = Response::new(Full::new(html));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A check's name as a URL segment: Gatus's key rule (` /_,.#+&` become `-`), lower case.
#[must_use]
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if " /_,.#+&".contains(c) {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The check a path segment names: its slug, or its name percent-encoded.
fn find_check(app: &App, segment: &str) -> Option<CheckState> {
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?
        .into_owned();
    app.state
        .snapshot()
        .into_iter()
        .find(|c| c.name == decoded || slug(&c.name) == decoded)
}

/// `GET /badge/{check}/uptime/{24h|7d|30d}.svg` and `/badge/{check}/health.svg`.
pub fn badge(app: &App, path: &str) -> Response<Full<Bytes>> {
    let parts: Vec<&str> = path.trim_start_matches("/badge/").split('/').collect();
    let not_found = || {
        text(
            StatusCode::NOT_FOUND,
            "no such badge; try /badge/CHECK/uptime/24h.svg (7d, 30d) or /badge/CHECK/health.svg\n"
                .to_owned(),
        )
    };
    let Some(check) = parts.first().and_then(|s| find_check(app, s)) else {
        return not_found();
    };
    let svg = match parts.get(1..).unwrap_or_default() {
        ["health.svg"] => {
            let incident = locked(&app.store)
                .counters(&check.name)
                .is_ok_and(|c| c.down);
            let (word, class) = page::state_word(&check, incident, false);
            let color = match class {
                "up" => "#2e8540",
                "down" => "#c4161c",
                "failing" => "#b36b00",
                _ => "#6b6b6b",
            };
            page::badge("health", &word.to_lowercase(), color)
        }
        ["uptime", span] => {
            let days = match *span {
                "24h.svg" => 1,
                "7d.svg" => 7,
                "30d.svg" => 30,
                _ => return not_found(),
            };
            let now = now_ms();
            let uptime = match locked(&app.store).uptime(&check.name, now - days * DAY_MS, now) {
                Ok(u) => u,
                Err(e) => return internal(&e),
            };
            let label = format!("uptime {}", span.trim_end_matches(".svg"));
            match uptime {
                Some(u) => {
                    page::badge(&label, &format!("{:.2}%", u * 100.0), page::uptime_color(u))
                }
                None => page::badge(&label, "no data", "#6b6b6b"),
            }
        }
        _ => return not_found(),
    };
    let mut response = typed(text(StatusCode::OK, svg), "image/svg+xml");
    response.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("no-cache, max-age=0"),
    );
    response
}

/// `GET /api/...`.
pub fn get(app: &App, path: &str) -> Response<Full<Bytes>> {
    let now = now_ms();
    if path == "/api/status" {
        let checks = app.state.snapshot();
        let store = locked(&app.store);
        let mut rows = Vec::new();
        for check in &checks {
            let down = match store.counters(&check.name) {
                Ok(c) => c.down,
                Err(e) => return internal(&e),
            };
            let mut uptime = serde_json::Map::new();
            for (key, span) in [("24h", DAY_MS), ("7d", 7 * DAY_MS), ("30d", 30 * DAY_MS)] {
                match store.uptime(&check.name, now - span, now) {
                    Ok(u) => uptime.insert(key.to_owned(), json!(u)),
                    Err(e) => return internal(&e),
                };
            }
            rows.push(json!({
                "name": check.name,
                "service": check.service,
                "state": page::state_word(check, down, false).1,
                "incident_open": down,
                "last": check.last,
                "uptime": uptime,
                "badges": {
                    "health": format!("/badge/{}/health.svg", slug(&check.name)),
                    "uptime_24h": format!("/badge/{}/uptime/24h.svg", slug(&check.name)),
                },
            }));
        }
        let (open, windows) = match (store.open_incidents(), store.windows(now)) {
            (Ok(o), Ok(w)) => (o, w),
            (Err(e), _) | (_, Err(e)) => return internal(&e),
        };
        return json_reply(
            StatusCode::OK,
            &json!({"checks": rows, "incidents": open, "maintenance": windows}),
        );
    }
    if let Some(id) = path
        .strip_prefix("/api/incidents/")
        .and_then(|s| s.parse::<i64>().ok())
    {
        let store = locked(&app.store);
        return match (store.incident(id), store.timeline(id)) {
            (Ok(Some(incident)), Ok(timeline)) => json_reply(
                StatusCode::OK,
                &json!({"incident": incident, "timeline": timeline}),
            ),
            (Ok(None), _) => problem(
                StatusCode::NOT_FOUND,
                &format!("no incident #{id}"),
                "GET /api/status lists the open ones",
            ),
            (Err(e), _) | (_, Err(e)) => internal(&e),
        };
    }
    problem(
        StatusCode::NOT_FOUND,
        "no such route",
        "GET /api/status, GET /api/incidents/ID, POST /api/incidents/ID/updates, POST /api/maintenance",
    )
}

/// A refusal, answered as it is (boxed: a response is large).
type Refused = Box<Response<Full<Bytes>>>;

/// Whether the request carries the token (compared in constant time).
fn authorized(app: &App, request: &Request<Incoming>) -> Result<(), Refused> {
    let Some(token) = app.api_token.as_deref() else {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "the write API is off",
            "start serve with `--api-token-file FILE` or STACKCTL_API_TOKEN",
        )));
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(Box::new(problem(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token",
            "send `Authorization: Bearer TOKEN` with the token serve was given",
        )))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    status: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWindow {
    #[serde(default)]
    services: Vec<String>,
    start: Option<String>,
    end: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    message: String,
}

async fn body<T: serde::de::DeserializeOwned>(request: Request<Incoming>) -> Result<T, Refused> {
    let limited = Limited::new(request.into_body(), MAX_BODY);
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => {
            return Err(Box::new(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("cannot read the body: {e}"),
                "send at most 64 KiB of JSON",
            )));
        }
        Err(_) => {
            return Err(Box::new(problem(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long",
                "send the whole body within 10 s",
            )));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        Box::new(problem(
            StatusCode::BAD_REQUEST,
            &format!("not the JSON expected: {e}"),
            "see README, \"Status page and alerts\", for the bodies",
        ))
    })
}

fn time(text: &str) -> Result<i64, Refused> {
    humantime::parse_rfc3339_weak(text)
        .map(crate::catalog::unix_ms)
        .map_err(|e| {
            Box::new(problem(
                StatusCode::BAD_REQUEST,
                &format!("`{text}` is not a time: {e}"),
                "write an RFC 3339 time in UTC, e.g. `2026-12-24T22:00:00Z`",
            ))
        })
}

/// `POST /api/...`.
pub async fn post(app: &App, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Err(refused) = authorized(app, &request) {
        return *refused;
    }
    let path = request.uri().path().to_owned();
    let now = now_ms();
    if path == "/api/maintenance" {
        let window: NewWindow = match body(request).await {
            Ok(w) => w,
            Err(r) => return *r,
        };
        let start = match window.start.as_deref().map(time).transpose() {
            Ok(s) => s.unwrap_or(now),
            Err(r) => return *r,
        };
        let end = match (window.end.as_deref(), window.duration.as_deref()) {
            (Some(end), None) => match time(end) {
                Ok(e) => e,
                Err(r) => return *r,
            },
            (None, Some(d)) => match crate::cli::values::duration(d) {
                Ok(d) => start + i64::try_from(d.as_millis()).unwrap_or(DAY_MS),
                Err(e) => {
                    return problem(
                        StatusCode::BAD_REQUEST,
                        &format!("`duration`: {e}"),
                        "e.g. `\"duration\": \"2h\"`",
                    );
                }
            },
            _ => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "a window needs one of `end` and `duration`",
                    "e.g. `{\"services\": [\"mongo\"], \"duration\": \"1h\", \"message\": \"upgrade\"}`",
                );
            }
        };
        if end <= start {
            return problem(
                StatusCode::BAD_REQUEST,
                "the window ends before it starts",
                "",
            );
        }
        let added = locked(&app.store).write(|tx| {
            store::add_window(tx, &window.services, start, end, &window.message, "api")
        });
        return match added {
            Ok(id) => {
                app.forget_page();
                tracing::info!(id, services = ?window.services, "maintenance window added");
                json_reply(
                    StatusCode::CREATED,
                    &json!({"id": id, "starts_at": start, "ends_at": end}),
                )
            }
            Err(e) => internal(&e),
        };
    }
    let id = path
        .strip_prefix("/api/incidents/")
        .and_then(|rest| rest.strip_suffix("/updates"))
        .and_then(|id| id.parse::<i64>().ok());
    let Some(id) = id else {
        return problem(
            StatusCode::NOT_FOUND,
            "no such route",
            "POST /api/incidents/ID/updates or /api/maintenance",
        );
    };
    let update: Update = match body(request).await {
        Ok(u) => u,
        Err(r) => return *r,
    };
    if !STATUSES.contains(&update.status.as_str()) {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("`{}` is not an incident status", update.status),
            "use investigating, identified, monitoring or resolved",
        );
    }
    let done = locked(&app.store).write(|tx| {
        let Some(incident) = store::incidents_where(tx, "id = ?1", &[&id])?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        if incident.resolved_at.is_none() {
            if update.status == "resolved" {
                incidents::resolve(
                    tx,
                    id,
                    now,
                    &format!("resolved by hand: {}", update.message),
                )?;
            } else {
                tx.execute(
                    "UPDATE incidents SET status = ?2 WHERE id = ?1",
                    rusqlite::params![id, update.status],
                )?;
            }
        }
        if update.status != "resolved" || incident.resolved_at.is_some() {
            store::note(tx, id, now, &update.status, &update.message)?;
        }
        let queued = incidents::dispatch(tx, &app.policy, &app.graph, now)?;
        Ok(Some(queued))
    });
    match done {
        Ok(Some(queued)) => {
            app.after_write(queued);
            app.forget_page();
            json_reply(
                StatusCode::CREATED,
                &json!({"incident": id, "status": update.status}),
            )
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            &format!("no incident #{id}"),
            "GET /api/status lists the open ones",
        ),
        Err(e) => internal(&e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_follow_gatus() {
        assert_eq!(super::slug("Mongo has a primary"), "mongo-has-a-primary");
        assert_eq!(super::slug("a/b_c.d"), "a-b-c-d");
    }
}
