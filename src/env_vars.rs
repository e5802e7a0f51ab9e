//! Every environment variable stackctl reads, in one place.
//!
//! Precedence, everywhere, highest first: command-line flag, then `STACKCTL_*` environment
//! variable, then stack file, then built-in default. Flags and their variables are merged by clap (each flag names its
//! variable with `env = ...` so `--help` shows it); [`crate::settings`] applies the rest.

/// Log filter (`tracing` directives such as `debug` or `stackctl=trace`). Wins over `RUST_LOG`.
pub const STACKCTL_LOG: &str = "STACKCTL_LOG";
/// The conventional log filter, read when `STACKCTL_LOG` and `--log-level` are absent.
pub const RUST_LOG: &str = "RUST_LOG";
/// `true` (or `1`) selects NDJSON output, like `--json`.
pub const STACKCTL_JSON: &str = "STACKCTL_JSON";
/// `true` (or `1`) silences progress, like `--quiet`.
pub const STACKCTL_QUIET: &str = "STACKCTL_QUIET";
/// Any non-empty value turns colour off (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";
/// Default hard timeout of one `check`.
pub const STACKCTL_CHECK_TIMEOUT: &str = "STACKCTL_CHECK_TIMEOUT";
/// Default global timeout of `wait`.
pub const STACKCTL_WAIT_TIMEOUT: &str = "STACKCTL_WAIT_TIMEOUT";
/// First retry delay of `wait`.
pub const STACKCTL_BACKOFF_MIN: &str = "STACKCTL_BACKOFF_MIN";
/// Retry delay cap of `wait`.
pub const STACKCTL_BACKOFF_MAX: &str = "STACKCTL_BACKOFF_MAX";
/// The MongoDB URI of `check mongo` and `init replica-set` (keeps credentials off the command line).
pub const STACKCTL_MONGO_URI: &str = "STACKCTL_MONGO_URI";
/// The Rocket.Chat base URL of the `rocketchat` checks and jobs.
pub const STACKCTL_ROCKETCHAT_URL: &str = "STACKCTL_ROCKETCHAT_URL";
/// The GitLab base URL of `check gitlab` and `init gitlab-webhook`.
pub const STACKCTL_GITLAB_URL: &str = "STACKCTL_GITLAB_URL";
/// The stack file, like `-f`.
pub const STACKCTL_FILE: &str = "STACKCTL_FILE";
/// The project name, like `-p`.
pub const STACKCTL_PROJECT: &str = "STACKCTL_PROJECT";
/// Default global timeout of `up`.
pub const STACKCTL_UP_TIMEOUT: &str = "STACKCTL_UP_TIMEOUT";
/// The engine of `up`, `down` and `status`: `compose` (plain containers) or `swarm`.
pub const STACKCTL_ENGINE: &str = "STACKCTL_ENGINE";
/// The registry `up --engine swarm` pushes images to, like `--registry` (`HOST:PORT`).
pub const STACKCTL_REGISTRY: &str = "STACKCTL_REGISTRY";
/// The check catalog of `verify` and `serve`, like `-c`.
pub const STACKCTL_CATALOG: &str = "STACKCTL_CATALOG";
/// The address `serve` listens on, like `--listen`.
pub const STACKCTL_LISTEN: &str = "STACKCTL_LISTEN";
/// `serve`'s history database, like `--db`.
pub const STACKCTL_DB: &str = "STACKCTL_DB";
/// `serve`'s alert webhook URL (a secret: the URL holds the hook's token).
pub const STACKCTL_ALERT_WEBHOOK: &str = "STACKCTL_ALERT_WEBHOOK";
/// The token `serve`'s write API (`POST /api/...`) requires.
pub const STACKCTL_API_TOKEN: &str = "STACKCTL_API_TOKEN";
/// `true` (or `1`) lets `up` and `config` go on with a Rocket.Chat/MongoDB pair outside the
/// support matrix, like `--allow-unsupported` (with a warning).
pub const STACKCTL_ALLOW_UNSUPPORTED: &str = "STACKCTL_ALLOW_UNSUPPORTED";
/// Active compose profiles (compose's own variable).
pub const COMPOSE_PROFILES: &str = "COMPOSE_PROFILES";

/// The variables whose values `--help` shows next to their flags: typed values (durations,
/// booleans) and names that cannot hold a credential. Every other variable's value is hidden
/// (`cli::command` applies this), so that a URL with a password in `STACKCTL_MONGO_URI` or
/// `STACKCTL_ROCKETCHAT_URL` never appears on screen.
pub const SHOWN_IN_HELP: &[&str] = &[
    STACKCTL_LOG,
    STACKCTL_JSON,
    STACKCTL_QUIET,
    STACKCTL_CHECK_TIMEOUT,
    STACKCTL_WAIT_TIMEOUT,
    STACKCTL_BACKOFF_MIN,
    STACKCTL_BACKOFF_MAX,
    STACKCTL_UP_TIMEOUT,
    STACKCTL_FILE,
    STACKCTL_PROJECT,
    STACKCTL_ENGINE,
    STACKCTL_REGISTRY,
    STACKCTL_CATALOG,
    STACKCTL_LISTEN,
    STACKCTL_DB,
    STACKCTL_ALLOW_UNSUPPORTED,
];
/// The stack files when `-f` is not given, separated by `COMPOSE_PATH_SEPARATOR` (compose's
/// own variables; read from the environment or the working directory's `.env`).
pub const COMPOSE_FILE: &str = "COMPOSE_FILE";
/// What separates the files of `COMPOSE_FILE` (default `:`).
pub const COMPOSE_PATH_SEPARATOR: &str = "COMPOSE_PATH_SEPARATOR";
/// The static stackctl binary `probe` and `smoke` put in their throw-away image, like
/// `--binary` (default: the running binary, which must then be static).
pub const STACKCTL_PROBE_BINARY: &str = "STACKCTL_PROBE_BINARY";
/// Where a probe reads its plan instead of stdin: set by stackctl in a one-shot Swarm job,
/// whose plan is a mounted secret (a service has no stdin).
pub const STACKCTL_PLAN_FILE: &str = "STACKCTL_PLAN_FILE";
/// Default global timeout of `smoke`.
pub const STACKCTL_SMOKE_TIMEOUT: &str = "STACKCTL_SMOKE_TIMEOUT";
