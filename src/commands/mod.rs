//! One file per subcommand, each holding its own clap arguments and its `run` function (the way
//! cargo keeps `commands/<name>.rs`); this module only lists them and dispatches. Adding a verb
//! touches one new file and two lines here.

pub mod backup;
pub mod backup_guard;
pub mod check;
pub mod common;
pub mod completions;
pub mod config;
pub mod doctor;
pub mod down;
pub mod graph;
pub mod init;
pub mod install;
pub mod man;
pub mod probe;
pub mod render;
pub mod restore;
pub mod serve;
pub mod smoke;
pub mod status;
pub mod up;
pub mod upgrade;
pub mod verify;
pub mod wait;

use clap::Subcommand;

use crate::error::Result;
use crate::exit::Completion;
use crate::settings::Settings;

// Parsed once per process; boxing the larger variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check one target once and exit 0 (healthy) or 1 (unhealthy); fit for `HEALTHCHECK`
    #[command(subcommand)]
    Check(check::CheckCommand),
    /// Wait until every target is ready (in parallel, with backoff), then optionally exec a command
    Wait(wait::WaitArgs),
    /// Run an idempotent init job until it succeeds (or fails for good, or times out)
    #[command(subcommand)]
    Init(init::InitCommand),
    /// Bring the stack up in dependency order; return when it is ready
    Up(up::UpArgs),
    /// Remove the stack's containers and networks (and volumes with `-v`)
    Down(down::DownArgs),
    /// Show each service's state, health, job result, uptime and ports
    Status(status::StatusArgs),
    /// Say why a running stack is broken and what fixes it (exit 0 healthy, 1 problems, 3 could not observe)
    Doctor(doctor::DoctorArgs),
    /// Draw the dependency graph of the stack file
    Graph(graph::GraphArgs),
    /// Print the resolved stack (files merged, variables interpolated, profiles applied), as `docker compose config` does
    Config(config::ConfigArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(completions::CompletionsArgs),
    /// Print the manual page (or write every page with `--dir`)
    Man(man::ManArgs),
    /// Run checks from inside a service's network namespace (nothing installed in its image)
    Probe(probe::ProbeArgs),
    /// End-to-end chat test for CI: services healthy, the bot posts, the admin reads it back, the hook delivers
    Smoke(smoke::SmokeArgs),
    /// Run every check of a catalog once (in parallel); exit 0 when every critical one passes
    Verify(verify::VerifyArgs),
    /// Run a catalog's checks on their intervals: the status page, alerts, /healthz, /status and /metrics
    Serve(serve::ServeArgs),
    /// Back the stack up (writers stopped, every named volume archived, the stack brought back up); `--verify FILE` restores a backup beside the stack and checks it
    Backup(backup::BackupArgs),
    /// Restore a backup into the stack (checked first), bring it up and run its checks
    Restore(restore::RestoreArgs),
    /// Bring the running stack to the versions its file now names, one major per hop, after a verified backup; a failed hop is rolled back
    Upgrade(upgrade::UpgradeArgs),
    /// The guard `backup` starts in a throw-away container: restarts the stack if the backup dies
    #[command(hide = true)]
    BackupGuard(backup_guard::BackupGuardArgs),
    /// Write the stack for another engine (Kubernetes manifests)
    #[command(subcommand)]
    Render(render::RenderCommand),
    /// Copy this binary into a directory (for containers that share it through a volume)
    Install(install::InstallArgs),
}

/// Runs the command. `tree` builds the command-line definitions for the commands that document
/// them (completions, man pages); it is handed down by the caller, which sits above the parser,
/// so that no command reaches up into it.
pub async fn execute(
    command: Command,
    settings: &Settings,
    tree: fn() -> clap::Command,
) -> Result<Completion> {
    match command {
        Command::Check(kind) => check::run(kind, settings).await.map(Completion::Exit),
        Command::Wait(args) => wait::run(args, settings).await,
        Command::Init(job) => init::run(job, settings).await.map(Completion::Exit),
        Command::Up(args) => up::run(args, settings).await.map(Completion::Exit),
        Command::Down(args) => down::run(args, settings).await.map(Completion::Exit),
        Command::Status(args) => status::run(args, settings).await.map(Completion::Exit),
        Command::Doctor(args) => doctor::run(args, settings).await.map(Completion::Exit),
        Command::Graph(args) => graph::run(&args, settings).map(Completion::Exit),
        Command::Config(args) => config::run(&args, settings).map(Completion::Exit),
        Command::Completions(args) => completions::run(&args, tree()).map(Completion::Exit),
        Command::Man(args) => man::run(&args, tree(), settings).map(Completion::Exit),
        Command::Probe(args) => probe::run(args, settings).await.map(Completion::Exit),
        Command::Smoke(args) => smoke::run(args, settings).await.map(Completion::Exit),
        Command::Verify(args) => verify::run(args, settings).await.map(Completion::Exit),
        Command::Serve(args) => serve::run(args, settings).await.map(Completion::Exit),
        Command::Backup(args) => backup::run(args, settings).await.map(Completion::Exit),
        Command::Restore(args) => restore::run(args, settings).await.map(Completion::Exit),
        Command::Upgrade(args) => upgrade::run(args, settings).await.map(Completion::Exit),
        Command::BackupGuard(args) => backup_guard::run(args).await.map(Completion::Exit),
        Command::Render(command) => render::run(command, settings).map(Completion::Exit),
        Command::Install(args) => install::run(&args, settings).map(Completion::Exit),
    }
}
