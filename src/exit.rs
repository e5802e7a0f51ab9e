//! Exit statuses, owned in one place so that the README, the code and the tests agree.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success / healthy |
//! | 1 | unhealthy / failed (and every failure under `check`, bad arguments included) |
//! | 2 | usage or configuration error |
//! | 3 | timed out; for `doctor`: could not observe (no Docker daemon, no such project) |
//! | 126 | `wait -- CMD`: the command was found but could not be executed |
//! | 127 | `wait -- CMD`: the command was not found |
//!
//! Docker reserves exit status 2 for `HEALTHCHECK` commands, which is why `check` never uses it.

use std::ffi::OsString;
use std::process::ExitCode;

/// A documented exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the command did what was asked; the target is healthy.
    Success,
    /// 1: the target is unhealthy or the command failed.
    Failure,
    /// 2: the command line or configuration is wrong.
    Usage,
    /// 3: the global timeout ran out before everything was ready.
    Timeout,
    /// 126: `wait -- CMD` found the command but could not execute it.
    CannotExecute,
    /// 127: `wait -- CMD` could not find the command.
    CommandNotFound,
}

impl ExitStatus {
    /// The numeric code the process exits with.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Timeout => 3,
            Self::CannotExecute => 126,
            Self::CommandNotFound => 127,
        }
    }

    /// Under `check`, Docker treats 2 as reserved: every failure there exits 1.
    #[must_use]
    pub const fn for_healthcheck(self) -> Self {
        match self {
            Self::Success => Self::Success,
            _ => Self::Failure,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status.code())
    }
}

/// What a command asks of the process once the async runtime is gone: exit with a status, or
/// be replaced by a command (`wait -- CMD`).
pub enum Completion {
    Exit(ExitStatus),
    Exec(Vec<OsString>),
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn codes_match_the_documented_table() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::Timeout.code(), 3);
        assert_eq!(ExitStatus::CannotExecute.code(), 126);
        assert_eq!(ExitStatus::CommandNotFound.code(), 127);
    }

    #[test]
    fn healthchecks_never_exit_two() {
        for status in [
            ExitStatus::Failure,
            ExitStatus::Usage,
            ExitStatus::Timeout,
            ExitStatus::CannotExecute,
        ] {
            assert_eq!(status.for_healthcheck().code(), 1);
        }
        assert_eq!(ExitStatus::Success.for_healthcheck().code(), 0);
    }
}
