//! Diagnostics through `tracing`, always on stderr, filtered by `--log-level`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::error::Error;
use crate::settings::Settings;

/// Installs the global subscriber.
///
/// # Errors
/// A usage error when the filter does not parse.
pub fn init(settings: &Settings) -> Result<(), Error> {
    let filter = EnvFilter::try_new(&settings.log_filter).map_err(|e| {
        Error::usage(format!("invalid log filter `{}`: {e}", settings.log_filter)).with_hint(
            "use a level (`error`, `warn`, `info`, `debug`, `trace`) or `target=level` pairs",
        )
    })?;
    // A second init (tests calling `run` twice in one process) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(settings.color)
        .with_target(false)
        // A span's close line carries its duration: every Docker call (and other timed work
        // that runs in a span) says how long it took under `--log-level debug`.
        .with_span_events(FmtSpan::CLOSE)
        .try_init();
    Ok(())
}
