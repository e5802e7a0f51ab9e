//! `stackctl render kubernetes`: the stack file written for another engine (see
//! `render/kubernetes.rs` for what maps to what). Stdout gets one multi-document YAML stream;
//! `-o DIR` writes one file per object instead.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::common::{StackArgs, open_stack};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::render::kubernetes::{self, Options};
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub enum RenderCommand {
    /// Kubernetes manifests: workloads, headless Services, Jobs, probes, initContainers for `depends_on`
    Kubernetes(KubernetesArgs),
}

#[derive(Debug, Args)]
pub struct KubernetesArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Write one file per object into this directory instead of stdout
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// An image with the static stackctl at `/stackctl` (initContainers: waits, the binary's copy)
    #[arg(long, value_name = "IMAGE", default_value = concat!("stackctl:", env!("CARGO_PKG_VERSION")))]
    pub stackctl_image: String,
    /// Fail (exit 2) instead of warning when something cannot be carried over
    #[arg(long)]
    pub strict: bool,
}

/// Renders the stack and writes the manifests.
pub fn run(command: RenderCommand, settings: &Settings) -> Result<ExitStatus> {
    let RenderCommand::Kubernetes(args) = command;
    let stack = open_stack(&args.stack, settings)?;
    let rendered = kubernetes::render(
        &stack,
        &Options {
            stackctl_image: args.stackctl_image.clone(),
        },
    );
    if args.strict && !rendered.warnings.is_empty() {
        return Err(Error::usage(format!(
            "{} thing(s) cannot be carried over to Kubernetes:\n  {}",
            rendered.warnings.len(),
            rendered.warnings.join("\n  ")
        ))
        .with_hint("drop `--strict` to render without them"));
    }
    for warning in &rendered.warnings {
        tracing::warn!("{warning}");
    }
    let yaml = |value: &serde_json::Value| {
        yaml_serde::to_string(value).map_err(|e| Error::failed(format!("cannot write YAML: {e}")))
    };
    let Some(dir) = &args.output else {
        let mut text = String::new();
        for (_, object) in &rendered.objects {
            text.push_str("---\n");
            text.push_str(&yaml(object)?);
        }
        let _ = write!(std::io::stdout().lock(), "{text}");
        return Ok(ExitStatus::Success);
    };
    let cannot = |what: &str, path: &std::path::Path, e: &std::io::Error| {
        Error::failed(format!(
            "cannot {what} `{}`: {}",
            path.display(),
            crate::reason::io_reason(e)
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| cannot("create", dir, &e))?;
    for (file, object) in &rendered.objects {
        let path = dir.join(file);
        std::fs::write(&path, yaml(object)?).map_err(|e| cannot("write", &path, &e))?;
    }
    Ok(ExitStatus::Success)
}
