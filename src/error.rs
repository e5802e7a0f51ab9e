//! Errors meant for people: a message, an optional `hint:`, and the exit status they map to.
//!
//! A failed check is not an error (see [`crate::check::Outcome`]); these are the failures of the
//! command itself — bad input, unusable configuration, a timeout.

use std::fmt;

use crate::exit::ExitStatus;

/// What went wrong, as far as the exit status is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line or configuration is wrong (exit 2).
    Usage,
    /// The work was attempted and failed (exit 1).
    Failed,
    /// The time budget ran out (exit 3).
    Timeout,
}

/// An error with a message for people and, when we know the likely fix, a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    hint: Option<String>,
}

impl Error {
    /// A usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    /// A failure of the work itself.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// A timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hint: None,
        }
    }

    /// Attaches the likely fix.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the hint.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The hint, if any.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The exit status this error maps to.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        match self.kind {
            ErrorKind::Usage => ExitStatus::Usage,
            ErrorKind::Failed => ExitStatus::Failure,
            ErrorKind::Timeout => ExitStatus::Timeout,
        }
    }

    /// The error and its hint on one line, for places that must print exactly one line
    /// (a `HEALTHCHECK` log entry).
    #[must_use]
    pub fn one_line(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{} (hint: {hint})", self.message),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Error {
    /// `error: <message>` and, on its own line, `hint: <hint>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The result type of stackctl's commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;
