//! What both engines' `up` share: the progress said (events, and per service why it is not
//! ready yet), how a service failed (what, why, its last log lines, a hint), and its image.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::docker::DockerApi;
use super::labels;
use crate::error::Error;
use crate::output::{Event, Reporter, human_duration, millis};
use crate::stack::Service;

/// Events of one `up`, timed from its start, and a note per service on what it waits for.
pub struct Progress {
    pub reporter: Reporter,
    pub started: Instant,
    notes: Mutex<BTreeMap<String, String>>,
}

impl Progress {
    #[must_use]
    pub fn new(reporter: &Reporter, started: Instant) -> Self {
        Self {
            reporter: reporter.clone(),
            started,
            notes: Mutex::default(),
        }
    }

    pub fn emit(&self, service: &str, status: &str, detail: Option<String>) {
        self.reporter.emit(&Event::Service {
            service: service.to_owned(),
            status: status.to_owned(),
            detail,
            elapsed_ms: millis(self.started.elapsed()),
        });
    }

    /// Why `service` is not ready yet (the last probe, the dependency it waits for): said
    /// when `up` times out.
    pub fn note(&self, service: &str, note: impl Into<String>) {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.to_owned(), note.into());
    }

    /// The timeout error: each service not ready (`what` it is, e.g. `not started`), with its
    /// note, or `fallback` when it has none.
    #[must_use]
    pub fn timeout_error<'a>(
        &self,
        timeout: Duration,
        not_ready: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
        hint: &str,
    ) -> Error {
        let mut message = format!("timed out after {}; not ready:", human_duration(timeout));
        let notes = self
            .notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, what, fallback) in not_ready {
            let why = notes
                .get(name)
                .map_or_else(|| fallback.to_owned(), |note| format!("({note})"));
            let _ = write!(message, "\n  {name}: {what} {why}");
            message.truncate(message.trim_end().len());
        }
        Error::timeout(message).with_hint(hint.to_owned())
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub service: String,
    pub message: String,
    pub logs: Vec<String>,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(service: &str, message: impl Into<String>) -> Self {
        Self {
            service: service.to_owned(),
            message: message.into(),
            logs: Vec::new(),
            hint: None,
        }
    }

    /// A failure of a daemon call: its message and hint.
    pub fn from_error(service: &str, e: &Error) -> Self {
        Self {
            hint: e.hint().map(str::to_owned),
            ..Self::new(service, e.message())
        }
    }

    /// The error `up` ends with: `service `X` failed: why`, then the log lines.
    #[must_use]
    pub fn to_error(&self) -> Error {
        let mut message = format!("service `{}` failed: {}", self.service, self.message);
        if !self.logs.is_empty() {
            message.push_str("\nlast log lines:");
            for line in &self.logs {
                let _ = write!(message, "\n  | {line}");
            }
        }
        let error = Error::failed(message);
        match &self.hint {
            Some(hint) => error.with_hint(hint.clone()),
            None => error,
        }
    }
}

/// The image a service runs and its id: present locally, built (`build:`), or pulled.
/// `progress` hears `building` or `pulling` with the image's name.
pub async fn prepare_image(
    docker: &DockerApi,
    project: &str,
    service: &Service,
    progress: impl Fn(&str, &str),
) -> Result<(String, String), Failure> {
    let image = service
        .image
        .clone()
        .unwrap_or_else(|| format!("{project}-{}", service.name));
    let fail = |e: Error| Failure::from_error(&service.name, &e);
    if let Some(build) = &service.build {
        progress("building", &image);
        let args = build.args.clone().into_iter().collect();
        let labels = HashMap::from([(labels::PROJECT.to_owned(), project.to_owned())]);
        docker
            .build(
                &image,
                &build.context,
                build.dockerfile.as_deref(),
                &args,
                &labels,
            )
            .await
            .map_err(fail)?;
    } else if docker.image_id(&image).await.map_err(fail)?.is_none() {
        progress("pulling", &image);
        docker.pull(&image, |_| {}).await.map_err(fail)?;
    }
    let id = docker
        .image_id(&image)
        .await
        .map_err(fail)?
        .ok_or_else(|| {
            Failure::new(
                &service.name,
                format!("image `{image}` is missing after it was prepared"),
            )
        })?;
    Ok((image, id))
}
