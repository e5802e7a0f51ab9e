//! What `serve`'s HTTP side shares: the checks' state, the store, the graph and policy that
//! decide alerts, the write API's token; and the plain-text reply every route starts from.

use std::sync::{Arc, Mutex};

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
}

impl App {
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
