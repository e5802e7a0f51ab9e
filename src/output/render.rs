//! Renderers: progress bars on a terminal, plain lines otherwise, NDJSON with `--json`.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::events::Event;
use super::format::human_duration;
use crate::settings::{Output, Settings};

/// Shows events.
pub trait Renderer: Send {
    fn render(&mut self, event: &Event);
}

/// The handle the engine emits events through; cheap to clone.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Mutex<Box<dyn Renderer>>>,
}

impl Reporter {
    #[must_use]
    pub fn new(renderer: Box<dyn Renderer>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(renderer)),
        }
    }

    pub fn emit(&self, event: &Event) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .render(event);
    }
}

/// The renderer the settings ask for.
#[must_use]
pub fn renderer_for(settings: &Settings) -> Box<dyn Renderer> {
    match settings.output {
        Output::Json => Box::new(JsonLines),
        Output::Quiet => Box::new(Silent),
        Output::Plain => Box::new(PlainLines {
            started: Instant::now(),
        }),
        Output::Progress => Box::new(Progress::new(settings.color)),
    }
}

/// NDJSON on stdout.
struct JsonLines;

impl Renderer for JsonLines {
    fn render(&mut self, event: &Event) {
        let mut out = std::io::stdout().lock();
        if let Ok(line) = serde_json::to_string(event) {
            // A closed stdout is not worth dying for; the exit status still tells.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Nothing (`--quiet`).
struct Silent;

impl Renderer for Silent {
    fn render(&mut self, _: &Event) {}
}

/// Timestamped lines on stderr, for logs and CI.
struct PlainLines {
    started: Instant,
}

impl Renderer for PlainLines {
    fn render(&mut self, event: &Event) {
        let Some(line) = plain_line(event) else {
            return;
        };
        let stamp = self.started.elapsed().as_secs_f64();
        let _ = writeln!(std::io::stderr().lock(), "[{stamp:7.2}s] {line}");
    }
}

fn plain_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::WaitStarted {
            targets, invert, ..
        } => {
            let goal = if *invert {
                " to become unreachable"
            } else {
                ""
            };
            format!("waiting for {} target(s){goal}", targets.len())
        }
        Event::NotReady {
            target,
            attempt,
            reason,
            retry_in_ms,
            ..
        } => format!(
            "{target}: not ready (attempt {attempt}): {reason}; next try in {}",
            human_duration(Duration::from_secs_f64(retry_in_ms / 1000.0))
        ),
        Event::Ready {
            target,
            attempts,
            detail,
            elapsed_ms,
        } => format!(
            "{target}: ready after {} ({attempts} attempt{}): {detail}",
            human_duration(Duration::from_secs_f64(elapsed_ms / 1000.0)),
            if *attempts == 1 { "" } else { "s" }
        ),
        Event::WaitFinished {
            ready: true,
            elapsed_ms,
            ..
        } => format!(
            "all targets ready after {}",
            human_duration(Duration::from_secs_f64(elapsed_ms / 1000.0))
        ),
        Event::WaitFinished { ready: false, .. }
        | Event::JobFailed { .. }
        | Event::StackFinished { ok: false, .. } => return None,
        Event::StackStarted { project, services } => {
            format!(
                "project {project}: bringing up {} service(s)",
                services.len()
            )
        }
        Event::Service {
            service,
            status,
            detail,
            ..
        } => match detail {
            Some(detail) => format!("{service}: {status} ({detail})"),
            None => format!("{service}: {status}"),
        },
        Event::StackFinished {
            ok: true,
            elapsed_ms,
        } => format!(
            "stack ready after {}",
            human_duration(Duration::from_secs_f64(elapsed_ms / 1000.0))
        ),
        Event::JobStarted { job, timeout_ms } => format!(
            "{job}: started (timeout {})",
            human_duration(Duration::from_secs_f64(timeout_ms / 1000.0))
        ),
        Event::JobProgress { job, message, .. } => format!("{job}: {message}"),
        Event::JobRetry {
            job,
            attempt,
            reason,
            retry_in_ms,
            ..
        } => format!(
            "{job}: attempt {attempt}: {reason}; next try in {}",
            human_duration(Duration::from_secs_f64(retry_in_ms / 1000.0))
        ),
        Event::JobDone {
            job,
            attempts,
            elapsed_ms,
        } => format!(
            "{job}: done after {} ({attempts} attempt{})",
            human_duration(Duration::from_secs_f64(elapsed_ms / 1000.0)),
            if *attempts == 1 { "" } else { "s" }
        ),
    })
}

/// One spinner per target on a terminal.
struct Progress {
    multi: MultiProgress,
    bars: Vec<(String, ProgressBar)>,
    color: bool,
}

impl Progress {
    fn new(color: bool) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Vec::new(),
            color,
        }
    }

    fn bar(&self, target: &str) -> Option<&ProgressBar> {
        self.bars.iter().find(|(t, _)| t == target).map(|(_, b)| b)
    }

    /// One spinner per name, each starting with `message`.
    fn add_spinners(&mut self, names: &[String], message: &'static str) {
        let style = self.spinner_style();
        for name in names {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(name.clone());
            bar.set_message(message);
            bar.enable_steady_tick(Duration::from_millis(100));
            self.bars.push((name.clone(), bar));
        }
    }

    fn spinner_style(&self) -> ProgressStyle {
        let template = if self.color {
            "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:.dim}"
        } else {
            "{spinner} {prefix} {wide_msg} {elapsed}"
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }

    /// Replaces a spinner with a ✓ and the event's plain line.
    fn finish(&self, bar: &ProgressBar, event: &Event) {
        let line = plain_line(event).unwrap_or_default();
        let mark = if self.color {
            "\u{1b}[32m✓\u{1b}[0m"
        } else {
            "✓"
        };
        bar.set_style(
            ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.finish_with_message(format!("{mark} {line}"));
    }
}

impl Renderer for Progress {
    fn render(&mut self, event: &Event) {
        match event {
            Event::WaitStarted { targets, .. } => self.add_spinners(targets, "waiting"),
            Event::NotReady {
                target,
                attempt,
                reason,
                ..
            } => {
                if let Some(bar) = self.bar(target) {
                    bar.set_message(format!("attempt {attempt}: {reason}"));
                }
            }
            Event::Ready { target, .. } => {
                if let Some(bar) = self.bar(target) {
                    let line = plain_line(event).unwrap_or_default();
                    let mark = if self.color {
                        "\u{1b}[32m✓\u{1b}[0m"
                    } else {
                        "✓"
                    };
                    bar.set_style(
                        ProgressStyle::with_template("{msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.finish_with_message(format!("{mark} {line}"));
                }
            }
            Event::JobStarted { job, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.spinner_style());
                bar.set_prefix(job.clone());
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(100));
                self.bars.push((job.clone(), bar));
            }
            Event::JobProgress { job, message, .. } => {
                if let Some(bar) = self.bar(job) {
                    bar.set_message(message.clone());
                }
            }
            Event::JobRetry {
                job,
                attempt,
                reason,
                ..
            } => {
                if let Some(bar) = self.bar(job) {
                    bar.set_message(format!("attempt {attempt}: {reason}"));
                }
            }
            Event::JobDone { job, .. } => {
                if let Some(bar) = self.bar(job) {
                    self.finish(bar, event);
                }
            }
            Event::JobFailed { job, .. } => {
                if let Some(bar) = self.bar(job) {
                    bar.abandon();
                }
            }
            Event::StackStarted { services, .. } => self.add_spinners(services, "pending"),
            Event::Service {
                service,
                status,
                detail,
                ..
            } => {
                if let Some(bar) = self.bar(service) {
                    if matches!(
                        status.as_str(),
                        "healthy" | "ready" | "running" | "completed" | "unchanged"
                    ) {
                        self.finish(bar, event);
                    } else if status == "failed" {
                        bar.abandon_with_message(format!(
                            "✗ {}",
                            detail.clone().unwrap_or_default()
                        ));
                    } else {
                        bar.set_message(match detail {
                            Some(detail) => format!("{status} ({detail})"),
                            None => status.clone(),
                        });
                    }
                }
            }
            Event::WaitFinished { .. } | Event::StackFinished { .. } => {
                for (_, bar) in &self.bars {
                    if !bar.is_finished() {
                        bar.abandon();
                    }
                }
                // The same closing line as the plain renderer ("stack ready after 9.9 s").
                if let Some(line) = plain_line(event) {
                    let _ = self.multi.println(line);
                }
            }
        }
    }
}
