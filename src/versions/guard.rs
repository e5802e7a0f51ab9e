//! `up` never swaps a database under its data: before anything is touched, every running
//! MongoDB service is asked over the wire which release it runs (`buildInfo`) and which
//! featureCompatibilityVersion its data holds (`getParameter`); a stack file naming another
//! release series, or data whose FCV is not the running series (an upgrade left half done), is
//! refused with a pointer to `stackctl upgrade`. mongod itself would exit 62 on data two
//! majors old, or run a new binary on the old FCV until someone sets it
//! (../shared/brief/day2.md §1).

use std::collections::BTreeSet;
use std::time::Duration;

use bollard::models::{ContainerInspectResponse, ContainerSummary};
use mongodb::bson::doc;

use super::image::{self, Product};
use super::upgrade::plan_mongo_path;
use super::{Series, Version};
use crate::engine::DockerApi;
use crate::engine::container::container_ip;
use crate::engine::labels;
use crate::error::{Error, Result};
use crate::mongo::client::Member;
use crate::stack::{Service, Stack};

/// The budget of one wire read (connect + `buildInfo` + `getParameter`).
const WIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// mongod's "this binary cannot use these data files" exit (`ExitCode::needDowngrade`): the
/// data was left untouched and going back to the previous image is the documented fix.
const NEED_DOWNGRADE: i64 = 62;

/// What the running member said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// `buildInfo.version`.
    pub version: Version,
    /// `featureCompatibilityVersion.version`, when the member let us read it.
    pub fcv: Option<Series>,
}

/// Why `up` must not go on, for one service; `None` when it may.
#[must_use]
pub fn judge(running: &Running, wanted: Version) -> Option<String> {
    let binary = running.version.series()?;
    if let Some(fcv) = running.fcv
        && fcv != binary
    {
        return Some(format!(
            "its data's featureCompatibilityVersion is {fcv} while the binary is {binary}: the last \
             upgrade did not finish (`setFeatureCompatibilityVersion` was never run)"
        ));
    }
    let same = match wanted.series() {
        Some(series) => series == binary,
        // `mongo:8`: any 8.x; only a major change is known.
        None => wanted.major == binary.major,
    };
    if same {
        return None;
    }
    let path = match plan_mongo_path(running.version, wanted) {
        Ok(hops) if !hops.is_empty() => {
            let mut steps = vec![binary.to_string()];
            steps.extend(hops.iter().map(|h| h.to.to_string()));
            format!(
                "the upgrade path is {}, one major at a time with the FCV set after each hop",
                steps.join(" → ")
            )
        }
        Ok(_) => "the file names no release series to plan a path to".to_owned(),
        Err(e) => e.to_string(),
    };
    Some(format!(
        "the stack file now names MongoDB {wanted}; recreating the container would run it on \
         data written by {binary}; {path}"
    ))
}

/// The stack's long-running MongoDB services among `selected`, with the version their image
/// tag names.
fn mongo_services<'a>(
    stack: &'a Stack,
    selected: &BTreeSet<String>,
) -> Vec<(&'a Service, String, Version)> {
    selected
        .iter()
        .filter_map(|name| stack.services.get(name))
        .filter(|s| !s.is_job())
        .filter_map(|s| {
            let reference = s.image.clone()?;
            let image = image::classify(&reference).filter(|i| i.product == Product::MongoDb)?;
            let Some(version) = image.version else {
                tracing::debug!(
                    service = %s.name,
                    "`{reference}` names no release: the data gate cannot compare it"
                );
                return None;
            };
            Some((s, reference, version))
        })
        .collect()
}

/// The port mongod listens on: `--port N` in the service's command, else 27017.
fn port_of(service: &Service) -> u16 {
    let args: Vec<String> = service
        .entrypoint
        .iter()
        .chain(&service.command)
        .flatten()
        .cloned()
        .collect();
    port_in(&args)
}

fn port_in(args: &[String]) -> u16 {
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--port=") {
            return value.parse().unwrap_or(27017);
        }
        if arg == "--port"
            && let Some(value) = args.peek()
        {
            return value.parse().unwrap_or(27017);
        }
    }
    27017
}

/// `buildInfo` and the FCV of the member at `ip:port`.
///
/// # Errors
/// A short reason when the member cannot be reached or `buildInfo` fails.
pub async fn read_running(ip: &str, port: u16) -> std::result::Result<Running, String> {
    let uri = format!("mongodb://{ip}:{port}/?directConnection=true");
    let member = Member::connect(&uri, WIRE_TIMEOUT)
        .await
        .map_err(|e| e.message().to_owned())?;
    let read = async {
        let build = member
            .command(doc! {"buildInfo": 1})
            .await
            .map_err(|e| member.reason(&e))?;
        let text = build.get_str("version").unwrap_or_default();
        let version = Version::parse(text)
            .ok_or_else(|| format!("`buildInfo` answered an unreadable version `{text}`"))?;
        // Needs privileges on a server with authentication: then only the binary is known.
        let fcv = match member
            .command(doc! {"getParameter": 1, "featureCompatibilityVersion": 1})
            .await
        {
            Ok(reply) => reply
                .get_document("featureCompatibilityVersion")
                .ok()
                .and_then(|d| d.get_str("version").ok())
                .and_then(Series::parse),
            Err(e) => {
                tracing::debug!(
                    "featureCompatibilityVersion not readable: {}",
                    member.reason(&e)
                );
                None
            }
        };
        Ok(Running { version, fcv })
    };
    tokio::time::timeout(WIRE_TIMEOUT * 2, read)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "no answer within {}s",
                (WIRE_TIMEOUT * 2).as_secs()
            ))
        })
}

fn existing<'a>(containers: &'a [ContainerSummary], service: &str) -> Option<&'a ContainerSummary> {
    containers.iter().find(|c| {
        let label = |key: &str| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(key))
                .map(String::as_str)
        };
        label(labels::SERVICE) == Some(service)
            && label(labels::ONEOFF) == Some("False")
            && label(labels::NUMBER) == Some("1")
    })
}

/// One service's verdict: `Ok(None)` to go on, `Ok(Some(refusal))` to stop.
async fn check_service(
    service: &Service,
    reference: &str,
    wanted: Version,
    inspect: &ContainerInspectResponse,
) -> Result<Option<String>> {
    let container = inspect
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    let state = inspect.state.as_ref();
    let running = state.and_then(|s| s.running).unwrap_or(false);
    let unread = if running {
        let port = port_of(service);
        let read = match container_ip(inspect) {
            Some(ip) => read_running(&ip, port)
                .await
                .map_err(|reason| format!("{ip}:{port}: {reason}")),
            None => Err("the container has no network address".to_owned()),
        };
        match read {
            Ok(found) => {
                tracing::debug!(
                    service = %service.name,
                    version = %found.version,
                    fcv = ?found.fcv.map(|f| f.to_string()),
                    wanted = %wanted,
                    "data gate: read over the wire"
                );
                let fcv = found
                    .fcv
                    .map_or_else(|| "not readable".to_owned(), |f| f.to_string());
                return Ok(judge(&found, wanted).map(|why| {
                    format!(
                        "service `{}` runs MongoDB {} (featureCompatibilityVersion {fcv}, read \
                         over the wire from `{container}`), and {why}; the stack file names \
                         `{reference}`",
                        service.name, found.version
                    )
                }));
            }
            // A member this host cannot reach (Docker Desktop, a hung server): its image still
            // tells the release, not the FCV.
            Err(reason) => {
                tracing::warn!(
                    "cannot read MongoDB's version over the wire from `{container}` ({reason}); \
                     comparing the release its image names instead"
                );
                format!("`{container}` runs but did not answer over the wire")
            }
        }
    } else {
        let exit = state.and_then(|s| s.exit_code).unwrap_or(0);
        if exit == NEED_DOWNGRADE {
            tracing::debug!(
                service = %service.name,
                "data gate: `{container}` exited 62 (this binary cannot use the data): going back \
                 is the fix"
            );
            return Ok(None);
        }
        format!("`{container}` is stopped, so nothing could be read over the wire")
    };
    let Some(before) = inspect
        .config
        .as_ref()
        .and_then(|c| c.image.as_deref())
        .and_then(image::classify)
        .and_then(|i| i.version)
    else {
        return Ok(None);
    };
    let as_running = Running {
        version: before,
        fcv: None,
    };
    Ok(judge(&as_running, wanted).map(|why| {
        format!(
            "service `{}` last ran MongoDB {before} (from its image; {unread}), and {why}; the \
             stack file names `{reference}`",
            service.name
        )
    }))
}

/// Refuses (exit 2) when `up` would put a MongoDB service's data under another release series,
/// or when its data's FCV is not the running series. Reads only: inspects and wire commands.
///
/// # Errors
/// The refusal (usage, exit 2) naming both versions, with `stackctl upgrade` as the hint; a
/// Docker failure.
pub async fn check(stack: &Stack, docker: &DockerApi, selected: &BTreeSet<String>) -> Result<()> {
    let services = mongo_services(stack, selected);
    if services.is_empty() {
        return Ok(());
    }
    let containers = docker.project_containers(&stack.project).await?;
    let mut refused = Vec::new();
    for (service, reference, wanted) in services {
        let Some(id) = existing(&containers, &service.name).and_then(|c| c.id.clone()) else {
            continue;
        };
        let inspect = docker.inspect(&id).await?;
        if let Some(refusal) = check_service(service, &reference, wanted, &inspect).await? {
            refused.push(refusal);
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::usage(format!(
        "`up` would swap MongoDB under its data: {}",
        refused.join("\n")
    ))
    .with_hint(
        "run `stackctl upgrade` to move the data one major at a time (a backup first, the FCV set \
         after each hop), or pin the release the data was written by again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(version: &str, fcv: Option<&str>) -> Running {
        Running {
            version: Version::parse(version).unwrap(),
            fcv: fcv.and_then(Series::parse),
        }
    }

    #[test]
    fn the_same_series_passes_and_another_is_refused_with_its_path() {
        let wanted = |v: &str| Version::parse(v).unwrap();
        assert_eq!(judge(&running("6.0.14", Some("6.0")), wanted("6.0")), None);
        assert_eq!(judge(&running("8.0.4", Some("8.0")), wanted("8.0.9")), None);
        assert_eq!(judge(&running("8.0.4", Some("8.0")), wanted("8")), None);
        let two = judge(&running("6.0.14", Some("6.0")), wanted("8.0")).unwrap();
        assert!(two.contains("names MongoDB 8.0"), "{two}");
        assert!(two.contains("6.0 → 7.0 → 8.0"), "{two}");
        let one = judge(&running("7.0.14", Some("7.0")), wanted("8.0.4")).unwrap();
        assert!(one.contains("7.0 → 8.0"), "{one}");
        let down = judge(&running("8.0.4", Some("8.0")), wanted("7.0")).unwrap();
        assert!(down.contains("is a downgrade"), "{down}");
        let major = judge(&running("7.0.14", None), wanted("8")).unwrap();
        assert!(major.contains("names no release series"), "{major}");
    }

    #[test]
    fn an_unfinished_upgrade_is_refused_even_on_the_same_image() {
        let why = judge(
            &running("7.0.14", Some("6.0")),
            Version::parse("7.0").unwrap(),
        )
        .unwrap();
        assert!(
            why.starts_with(
                "its data's featureCompatibilityVersion is 6.0 while the binary is 7.0"
            ),
            "{why}"
        );
    }

    #[test]
    fn the_port_comes_from_the_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        assert_eq!(port_in(&args(&["--replSet", "rs0"])), 27017);
        assert_eq!(
            port_in(&args(&["--replSet", "rs0", "--port", "27018"])),
            27018
        );
        assert_eq!(port_in(&args(&["--port=27019"])), 27019);
    }
}
