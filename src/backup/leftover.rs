//! The throw-away projects `backup --verify` leaves when it is killed (SIGKILL, a cancelled CI
//! job): a whole restored stack, running, with its volumes. Its name says which process made it
//! — `<project>-verify-<pid>-<start>`, the pid and the process's start time in clock ticks since
//! boot (`/proc/<pid>/stat`, field 22; proc(5)) — so the next `backup --verify` of the same
//! project can tell a leftover (that process is gone, or the pid is another process now) from a
//! verify still running beside it, and removes only the leftovers.
//!
//! Only on a local daemon (its unix socket here): through a tcp `DOCKER_HOST` the process that
//! made a project may live on another machine, and nothing is removed.

use crate::engine::docker::DockerApi;
use crate::error::Error;

/// The part of a verify project's name after `<project>-verify-`: this process.
#[must_use]
pub fn owner() -> String {
    let pid = std::process::id();
    format!("{pid}-{}", start_time(pid).unwrap_or(0))
}

/// When process `pid` started (clock ticks since boot), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process named by an owner (`<pid>-<start>`) is gone; `None` for a name that is
/// not one.
fn gone(owner: &str) -> Option<bool> {
    let (pid, start) = owner.split_once('-')?;
    let (pid, start): (u32, u64) = (pid.parse().ok()?, start.parse().ok()?);
    Some(start_time(pid) != Some(start))
}

/// Removes the throw-away projects of killed `backup --verify` runs of `project` (containers,
/// networks, volumes); returns their names.
///
/// # Errors
/// When the daemon cannot list or remove them.
pub async fn clear(docker: &DockerApi, project: &str) -> Result<Vec<String>, Error> {
    if crate::backup::guard::socket().is_none() {
        return Ok(Vec::new());
    }
    let prefix = format!("{project}-verify-");
    let stale: Vec<String> = docker
        .projects()
        .await?
        .into_iter()
        .filter(|p| p.strip_prefix(&prefix).and_then(gone).unwrap_or(false))
        .collect();
    for leftover in &stale {
        tracing::debug!(project = %leftover, "removing a killed verify's throw-away project");
        for container in docker.project_containers(leftover).await? {
            if let Some(id) = container.id {
                docker.remove_container(&id, true).await?;
            }
        }
        for (id, _) in docker.project_networks(leftover).await? {
            docker.remove_network(&id).await?;
        }
        for volume in docker.project_volumes(leftover).await? {
            docker.remove_volume(&volume).await?;
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_gone() {
        let me = owner();
        assert_eq!(gone(&me), Some(false), "{me}");
        let pid = std::process::id();
        // The same pid, another start: the pid was reused.
        let start = start_time(pid).unwrap();
        assert_eq!(gone(&format!("{pid}-{}", start + 1)), Some(true));
        // A pid no process has (above the kernel's pid_max).
        assert_eq!(gone("4194305-1"), Some(true));
        // Not a name this module made (a random suffix of an older stackctl).
        assert_eq!(gone("k3j9x2"), None);
        assert_eq!(gone("12-ab"), None);
    }
}
