//! What `serve`'s HTTP side shares: the checks' state, the store, the graph and policy that
//! decide alerts, the write API's token; and the plain-text reply every route starts from.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::incidents::{Graph, Policy};
use super::state::State;
use super::store::Store;

/// Everything the HTTP side reads.
pub struct App {
    pub state: State,
    pub store: Arc<Mutex<Store>>,
    pub graph: Graph,
    pub policy: Policy,
    pub api_token: Option<String>,
    /// Wakes the alert sender when an alert is queued.
    pub wake: Arc<tokio::sync::Notify>,
    /// The page as last rendered, and when: served again for [`PAGE_FRESH`], so a crowd (or a
    /// wall screen per person) costs one render a second, not one per request.
    pub page: Mutex<Option<(Instant, Bytes)>>,
}

/// How long a rendered page is served again (results arrive on the checks' intervals; the
/// write API forgets it at once).
pub const PAGE_FRESH: Duration = Duration::from_secs(1);

impl App {
    /// The page rendered less than [`PAGE_FRESH`] ago.
    pub fn cached_page(&self) -> Option<Bytes> {
        let page = self
            .page
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        page.as_ref()
            .filter(|(at, _)| at.elapsed() < PAGE_FRESH)
            .map(|(_, html)| html.clone())
    }

    pub fn cache_page(&self, html: Bytes) {
        *self
            .page
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), html));
    }

    /// After a write a person made: the next request renders anew.
    pub fn forget_page(&self) {
        *self
            .page
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// After a write that queued `queued` alerts: wakes the sender.
    pub fn after_write(&self, queued: usize) {
        if queued > 0 {
            self.wake.notify_one();
        }
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
