//! Argument groups several commands share (which stack, which Rocket.Chat, whose password, how
//! long), and what they resolve to.

use std::time::Duration;

use clap::Args;

use crate::cli::values;
use crate::env_vars;
use crate::error::Result;
use crate::settings::Settings;
use crate::stack::{LoadOptions, Stack};

/// Which stack: shared by `up`, `down`, `status` and `graph`.
/// Where the stack runs: `--engine`, shared by `up`, `down` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Plain containers on this Docker host, as `docker compose` makes them
    Compose,
    /// Swarm services on the swarm this Docker host manages
    Swarm,
}

/// `--engine`.
#[derive(Debug, clap::Args)]
pub struct EngineArg {
    /// Run the stack as plain containers or as Swarm services
    #[arg(long, value_enum, default_value = "compose", env = crate::env_vars::STACKCTL_ENGINE)]
    pub engine: Engine,
}

#[derive(Debug, Clone, Args)]
pub struct StackArgs {
    /// Stack file (a compose file); repeat to merge several in order, as compose does [default: `COMPOSE_FILE`, else `compose.yaml`, `compose.yml`, `docker-compose.yml` or `docker-compose.yaml` here or in a parent directory, with `compose.override.yml` beside it]
    #[arg(long, short = 'f', value_name = "FILE", env = env_vars::STACKCTL_FILE)]
    pub file: Vec<std::path::PathBuf>,
    /// Project name [default: `COMPOSE_PROJECT_NAME`, `name:` in the files, or the first file's directory name]
    #[arg(long = "project-name", short = 'p', value_name = "NAME", env = env_vars::STACKCTL_PROJECT)]
    pub project: Option<String>,
    /// Read variables from this file instead of `.env`
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<std::path::PathBuf>,
    /// Enable services of this profile (repeatable; adds to `COMPOSE_PROFILES`)
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

/// `--allow-unsupported`: shared by `up` and `config`.
#[derive(Debug, Clone, Copy, Args)]
pub struct AllowUnsupported {
    /// Go on with a Rocket.Chat/MongoDB pair outside the support matrix (with a warning)
    #[arg(long, env = env_vars::STACKCTL_ALLOW_UNSUPPORTED, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unsupported: bool,
}

/// [`open_stack`], then the support-matrix gate ([`crate::versions::gate`]): still before
/// anything touches Docker.
pub fn open_supported_stack(
    args: &StackArgs,
    allow: AllowUnsupported,
    settings: &Settings,
) -> Result<Stack> {
    let stack = open_stack(args, settings)?;
    crate::versions::gate::enforce(&stack, allow.allow_unsupported)?;
    Ok(stack)
}

/// The project when `-p NAME` is given and no stack file is at hand (none named, no
/// `COMPOSE_FILE`, none in this directory): a stack brought up elsewhere, e.g. by `docker
/// compose` from another directory, whose containers are found by their labels.
pub fn project_without_file(args: &StackArgs, settings: &Settings) -> Option<String> {
    let no_file_here = args.file.is_empty()
        && settings
            .variables
            .get(crate::env_vars::COMPOSE_FILE)
            .is_none_or(String::is_empty)
        && crate::stack::DEFAULT_FILES
            .iter()
            .all(|f| !settings.cwd.join(f).exists());
    args.project
        .as_deref()
        .filter(|_| no_file_here)
        .map(crate::stack::normalize_project)
}

/// Loads and validates the stack file before anything touches Docker.
pub fn open_stack(args: &StackArgs, settings: &Settings) -> Result<Stack> {
    let options = LoadOptions {
        files: args.file.clone(),
        project: args.project.clone(),
        env_file: args.env_file.clone(),
        environment: settings.variables.clone(),
        cwd: settings.cwd.clone(),
    };
    crate::stack::open(&options, &args.profiles.iter().cloned().collect())
}

/// The hard limit of one check attempt.
#[derive(Debug, Clone, Copy, Args)]
pub struct CheckTimeout {
    /// Hard timeout of the check
    #[arg(long, value_name = "DURATION", default_value = "5s", env = env_vars::STACKCTL_CHECK_TIMEOUT, value_parser = values::duration)]
    pub timeout: Duration,
}

/// How long the stack may take to come back up, and the stackctl binary of the throw-away
/// containers that move its volumes: shared by `backup`, `restore` and `upgrade`.
#[derive(Debug, Clone, Args)]
pub struct Recovery {
    /// Give up on bringing the stack (or a throw-away project) up after this long; `upgrade`: the bound of each of its waits (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "5m", env = env_vars::STACKCTL_UP_TIMEOUT, value_parser = values::duration)]
    pub timeout: Duration,
    /// The static stackctl binary to put in the throw-away container's image [default: the running binary]
    #[arg(long, value_name = "PATH", env = env_vars::STACKCTL_PROBE_BINARY)]
    pub binary: Option<std::path::PathBuf>,
}

/// The bound of an init job.
#[derive(Debug, Clone, Copy, Args)]
pub struct JobTimeout {
    /// Give up after this long (exit 3)
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = values::duration)]
    pub timeout: Duration,
}

/// The Rocket.Chat server.
#[derive(Debug, Clone, Args)]
pub struct RcServer {
    /// Base URL, e.g. `http://rocketchat:3000` (or `rocketchat+http://rocketchat:3000`)
    #[arg(long, value_name = "URL", env = env_vars::STACKCTL_ROCKETCHAT_URL, value_parser = values::rocketchat_url)]
    pub url: url::Url,
}

/// A user's password: from a file or a variable, never a bare flag value.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct Password {
    /// Read the password from this file (a trailing newline is ignored)
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<std::path::PathBuf>,
    /// Read the password from this environment variable
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

impl Password {
    /// Reads the password from where the flags say.
    pub fn read(&self, settings: &Settings) -> Result<String> {
        crate::secret::read(
            self.password_file.as_deref(),
            self.password_env.as_deref(),
            &settings.variables,
        )
    }
}

/// The admin's credentials, for jobs that change things.
#[derive(Debug, Clone, Args)]
pub struct Admin {
    /// The admin's user name
    #[arg(long, value_name = "NAME", default_value = "admin")]
    pub admin_user: String,
    /// Read the admin's password from this file
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "admin_password_env"
    )]
    pub admin_password_file: Option<std::path::PathBuf>,
    /// Read the admin's password from this environment variable
    #[arg(long, value_name = "VAR")]
    pub admin_password_env: Option<String>,
}
