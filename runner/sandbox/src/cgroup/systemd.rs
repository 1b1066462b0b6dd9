//! A delegated scope from systemd, asked for over D-Bus.
//!
//! On a systemd host a login shell runs in `session-N.scope`, beside the shell itself, and
//! that scope belongs to root: hatchery can neither empty it (it moves only itself) nor, as a
//! normal user, create cgroups in it. systemd's own answer is a transient scope with
//! `Delegate=yes`, what `systemd-run --scope -p Delegate=yes` creates (podman does the same
//! for rootless containers): the manager creates the scope, moves the given processes into
//! it, enables the delegated controllers on its parent and hands the subtree to the caller.
//! hatchery asks for one holding only itself — the system manager when we are root, the
//! user's own manager (`systemd --user`, on the session bus) otherwise — and then delegates
//! inside it as in any cgroup of its own (`v2::delegate`).
//!
//! The scope holds this process until it exits; systemd removes it then
//! (`CollectMode=inactive-or-failed`). Set `HATCHERY_SYSTEMD_SCOPE=0` to never ask.

use std::io;
use std::time::{Duration, Instant};

use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{OwnedObjectPath, Value};

/// How long systemd may take to move us after accepting the job.
const MOVE_WAIT: Duration = Duration::from_secs(10);
const MOVE_STEP: Duration = Duration::from_millis(5);

/// Whether hatchery may ask systemd for a scope on this host: systemd runs
/// (`/run/systemd/system` exists, as `sd_booted()` checks) and the user did not opt out.
pub fn allowed(systemd_running: bool) -> bool {
    systemd_running && std::env::var_os("HATCHERY_SYSTEMD_SCOPE").is_none_or(|v| v != "0")
}

fn other(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// Asks the service manager for a scope `hatchery-<pid>[-n].scope` holding only this
/// process, with its cgroup delegated, and waits until the process is in it. Returns the
/// unit's name. `root`: ask the system manager (else the user's manager).
pub fn start_scope(pid: u32, root: bool) -> io::Result<String> {
    let (bus, conn) = if root {
        ("system bus", Connection::system())
    } else {
        ("session bus of the user's manager", Connection::session())
    };
    let conn = conn.map_err(|e| other(&format!("cannot connect to the {bus}"), e))?;
    let manager = Proxy::new(
        &conn,
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
    )
    .map_err(|e| other("systemd manager proxy", e))?;
    let mut last = None;
    for attempt in 0..5 {
        let unit = if attempt == 0 {
            format!("hatchery-{pid}.scope")
        } else {
            format!("hatchery-{pid}-{attempt}.scope")
        };
        let props: Vec<(&str, Value)> = vec![
            (
                "Description",
                Value::from("hatchery supervisor (delegated cgroup)"),
            ),
            ("PIDs", Value::from(vec![pid])),
            ("Delegate", Value::from(true)),
            ("CollectMode", Value::from("inactive-or-failed")),
        ];
        let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
        let reply: Result<OwnedObjectPath, zbus::Error> =
            manager.call("StartTransientUnit", &(unit.as_str(), "fail", props, aux));
        match reply {
            Ok(_job) => {
                wait_until_in(&unit)?;
                return Ok(unit);
            }
            // A scope of that name is left from an earlier process with our pid.
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.systemd1.UnitExists" =>
            {
                last = Some(format!("{unit} exists"));
            }
            Err(e) => {
                return Err(other(
                    &format!("StartTransientUnit({unit}) on the {bus}"),
                    e,
                ))
            }
        }
    }
    Err(other("StartTransientUnit", last.unwrap_or_default()))
}

/// Waits until `/proc/self/cgroup` names the scope (systemd moves the process when it runs
/// the start job, just after the call returns).
fn wait_until_in(unit: &str) -> io::Result<()> {
    let start = Instant::now();
    loop {
        let own = std::fs::read_to_string("/proc/self/cgroup")?;
        if in_unit(&own, unit) {
            return Ok(());
        }
        if start.elapsed() > MOVE_WAIT {
            return Err(other(
                &format!("systemd accepted {unit} but did not move this process into it"),
                format!("still in {}", own.trim()),
            ));
        }
        std::thread::sleep(MOVE_STEP);
    }
}

/// Whether the cgroup v2 line of `/proc/self/cgroup` ends in `unit`.
fn in_unit(proc_cgroup: &str, unit: &str) -> bool {
    proc_cgroup
        .lines()
        .filter_map(|l| l.strip_prefix("0::"))
        .any(|p| p.rsplit('/').next() == Some(unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v2_line_names_the_scope() {
        let unit = "hatchery-42.scope";
        assert!(in_unit(
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/hatchery-42.scope\n",
            unit
        ));
        assert!(!in_unit(
            "0::/user.slice/user-1000.slice/session-1.scope\n",
            unit
        ));
        assert!(!in_unit("1:name=systemd:/hatchery-42.scope\n", unit));
    }

    #[test]
    fn opting_out_and_hosts_without_systemd() {
        assert!(!allowed(false));
    }
}
