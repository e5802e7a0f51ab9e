//! `stackctl verify -c checks/chat.yml`: every check of a catalog once, in parallel; one line per
//! check and a summary (or NDJSON, TAP, JUnit). Exit 0 when every critical check passes.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use crate::catalog::report::{self, Tally};
use crate::catalog::run::{Remote, run_all};
use crate::env_vars;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::settings::{Output, Settings};

/// The catalog and the project its `from:` services are in: `verify` and `serve` take both.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// The check catalog (see checks/README.md)
    #[arg(long, short = 'c', value_name = "FILE", default_value = "checks.yml", env = env_vars::STACKCTL_CATALOG)]
    pub catalog: PathBuf,
    /// The compose project the `from:` services are in [default: the catalog's `project:`]
    #[arg(long = "project-name", short = 'p', value_name = "NAME", env = env_vars::STACKCTL_PROJECT)]
    pub project: Option<String>,
    /// Only the checks with this tag (repeatable: any of them)
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
}

impl CatalogArgs {
    /// The catalog, read and checked, with only the tagged checks when `--tag` is given.
    pub fn load(&self) -> Result<crate::catalog::Catalog> {
        let vars = crate::catalog::variables(&self.catalog);
        let mut catalog = crate::catalog::load(&self.catalog, &vars)?;
        if !self.tag.is_empty() {
            catalog
                .checks
                .retain(|c| c.tags.iter().any(|t| self.tag.contains(t)));
            if catalog.checks.is_empty() {
                return Err(Error::usage(format!(
                    "no check of `{}` has the tag(s) {}",
                    self.catalog.display(),
                    self.tag.join(", ")
                )));
            }
        }
        Ok(catalog)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per check and a summary (or NDJSON with `--json`)
    Text,
    /// The Test Anything Protocol, version 13
    Tap,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// Also write the results as JUnit XML to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// How results are printed
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Run the checks a plan on stdin names (how a run from the host hands checks to a
    /// throw-away container in the stack's network)
    #[arg(long, hide = true)]
    pub stdin: bool,
}

/// The largest plan read on stdin: a catalog is at most 1 MiB, plus names and variables.
const MAX_PLAN: u64 = 4 << 20;

/// `verify --stdin`: the checks of the plan, run here, one JSON line each.
async fn run_plan(settings: &Settings) -> Result<ExitStatus> {
    let text = crate::netns::runner::read_plan(MAX_PLAN)
        .map_err(|e| Error::usage(format!("cannot read the plan: {e}")))?;
    let plan: crate::catalog::run::InsidePlan = serde_json::from_slice(&text)
        .map_err(|e| Error::usage(format!("the plan on stdin is not valid: {e}")))?;
    let mut catalog = crate::catalog::parse(
        std::path::Path::new("catalog"),
        &plan.catalog,
        &std::collections::BTreeMap::new(),
    )?;
    catalog.checks.retain(|c| plan.names.contains(&c.name));
    let settings = Settings {
        variables: plan.variables,
        ..settings.clone()
    };
    let entries: Vec<_> = catalog.checks.iter().collect();
    let mut out = String::new();
    for result in run_all(&entries, None, &settings).await {
        out.push_str(&report::json(&result));
        out.push('\n');
    }
    let _ = write!(std::io::stdout().lock(), "{out}");
    Ok(ExitStatus::Success)
}

/// Runs every check once and reports.
pub async fn run(args: VerifyArgs, settings: &Settings) -> Result<ExitStatus> {
    if args.stdin {
        return run_plan(settings).await;
    }
    let catalog = args.catalog.load()?;
    let started = Instant::now();
    let remote = Remote::for_catalog(&catalog, args.catalog.project.as_deref(), settings).await?;
    let entries: Vec<_> = catalog.checks.iter().collect();
    let results = run_all(&entries, remote.as_ref(), settings).await;
    let elapsed = started.elapsed();
    let tally = Tally::of(&results);
    let mut text = String::new();
    if args.format == Format::Tap {
        text = report::tap(&results);
    } else if settings.output == Output::Json {
        for r in &results {
            text.push_str(&report::json(r));
            text.push('\n');
        }
        text.push_str(&tally.json(elapsed));
        text.push('\n');
    } else if settings.output != Output::Quiet {
        for r in &results {
            text.push_str(&report::line(r));
            text.push('\n');
        }
        text.push_str(&tally.line(elapsed));
        text.push('\n');
    }
    let _ = write!(std::io::stdout().lock(), "{text}");
    if let Some(path) = &args.junit {
        let name = catalog
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::write(path, report::junit(&results, &name, elapsed)).map_err(|e| {
            Error::failed(format!(
                "cannot write the JUnit report `{}`: {}",
                path.display(),
                crate::reason::io_reason(&e)
            ))
        })?;
    }
    Ok(if tally.ok() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}
