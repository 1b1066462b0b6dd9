//! Where our cgroups are: `/proc/self/cgroup` (which cgroup of each hierarchy we are in) and
//! `/proc/self/mountinfo` (where each hierarchy is mounted, and which part of it: in a
//! container the mount's root may be a cgroup deep in the host's tree).
//!
//! The version is decided by the memory controller: bound to a v1 hierarchy → v1 (also on
//! "hybrid" hosts that mount an empty cgroup2 beside v1); otherwise a mounted cgroup2 → v2.

use std::path::{Path, PathBuf};

use super::fs::CgroupFs;
use super::{CgroupError, Version, V1_CONTROLLERS};

/// Our own cgroup(s), found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One directory per controller of [`V1_CONTROLLERS`], in that order.
    V1 { dirs: Vec<PathBuf> },
    /// The cgroup2 mount point and the cgroup we are in.
    V2 { mount: PathBuf, own: PathBuf },
}

impl Layout {
    pub fn version(&self) -> Version {
        match self {
            Layout::V1 { .. } => Version::V1,
            Layout::V2 { .. } => Version::V2,
        }
    }
}

#[derive(Debug)]
struct Mount {
    /// The part of the hierarchy this mount shows (`/` unless bind-mounted from deeper).
    root: String,
    point: PathBuf,
    v2: bool,
    /// v1: the super options (the controllers and `name=` are among them).
    options: Vec<String>,
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let _source = post.next()?;
            let options = post.next().unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            Some(Mount {
                root: unescape(pre.get(3)?),
                point: PathBuf::from(unescape(pre.get(4)?)),
                v2,
                options: options.split(',').map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// `hierarchy-id:controllers:path` lines of `/proc/self/cgroup`.
fn parse_self_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctl = it.next()?;
            let path = it.next()?;
            let ctl = ctl
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            Some((ctl, path.to_owned()))
        })
        .collect()
}

/// `mount point + (path − mount root)`; `None` when the path is outside what the mount shows.
fn under(m: &Mount, path: &str) -> Option<PathBuf> {
    let rel = Path::new(path).strip_prefix(&m.root).ok()?;
    Some(m.point.join(rel))
}

/// Finds our cgroup(s) and the version to use.
pub fn discover(fs: &dyn CgroupFs) -> Result<Layout, CgroupError> {
    let read = |p: &str| {
        fs.read(Path::new(p))
            .map_err(|e| CgroupError::Discover(format!("cannot read {p}: {e}")))
    };
    let mounts = parse_mountinfo(&read("/proc/self/mountinfo")?);
    let lines = parse_self_cgroup(&read("/proc/self/cgroup")?);
    let v1_has = |c: &str| {
        mounts
            .iter()
            .filter(|m| !m.v2 && m.options.iter().any(|o| o == c))
            .collect::<Vec<_>>()
    };
    if !v1_has("memory").is_empty() {
        let mut dirs = Vec::new();
        for c in V1_CONTROLLERS {
            let ms = v1_has(c);
            if ms.is_empty() {
                return Err(CgroupError::NoController(c));
            }
            let (_, path) = lines
                .iter()
                .find(|(ctl, _)| ctl.iter().any(|x| x == c))
                .ok_or_else(|| {
                    CgroupError::Discover(format!("no `{c}` line in /proc/self/cgroup"))
                })?;
            let dir = ms.iter().find_map(|m| under(m, path)).ok_or_else(|| {
                CgroupError::Discover(format!(
                    "our `{c}` cgroup {path} is outside every mount of that hierarchy"
                ))
            })?;
            dirs.push(dir);
        }
        return Ok(Layout::V1 { dirs });
    }
    let v2: Vec<&Mount> = mounts.iter().filter(|m| m.v2).collect();
    if v2.is_empty() {
        return Err(CgroupError::Discover(
            "neither a cgroup v1 memory hierarchy nor cgroup2 is mounted (see \
             /proc/self/mountinfo)"
                .into(),
        ));
    }
    let (_, path) = lines
        .iter()
        .find(|(ctl, _)| ctl.is_empty())
        .ok_or_else(|| CgroupError::Discover("no `0::` line in /proc/self/cgroup".into()))?;
    // Prefer the usual place when cgroup2 is mounted more than once.
    let mut ordered = v2.clone();
    ordered.sort_by_key(|m| m.point != Path::new("/sys/fs/cgroup"));
    for m in ordered {
        if let Some(own) = under(m, path) {
            return Ok(Layout::V2 {
                mount: m.point.clone(),
                own,
            });
        }
    }
    Err(CgroupError::Discover(format!(
        "our cgroup {path} is outside every cgroup2 mount"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_HOST: &str = "\
25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
31 25 0:27 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:28 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 31 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory
36 31 0:32 / /sys/fs/cgroup/pids rw,nosuid shared:15 - cgroup cgroup rw,pids
37 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:16 - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn hybrid_hosts_use_v1_and_co_mounted_controllers_are_found() {
        let m = parse_mountinfo(V1_HOST);
        assert_eq!(m.len(), 4);
        let lines = parse_self_cgroup("4:memory:/a/b\n3:pids:/\n2:cpu,cpuacct:/c\n0::/x\n");
        assert_eq!(lines[2].0, ["cpu", "cpuacct"]);
        assert_eq!(lines[3].0, Vec::<String>::new());
        let mem = m
            .iter()
            .find(|m| m.options.contains(&"memory".into()))
            .unwrap();
        assert_eq!(
            under(mem, "/a/b"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/a/b"))
        );
    }

    #[test]
    fn container_mounts_show_a_deeper_root() {
        let m = parse_mountinfo(
            "40 30 0:40 /docker/abc /sys/fs/cgroup rw shared:1 - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(
            under(&m[0], "/docker/abc/inner"),
            Some(PathBuf::from("/sys/fs/cgroup/inner"))
        );
        assert_eq!(under(&m[0], "/elsewhere"), None);
    }

    #[test]
    fn escaped_mount_points() {
        assert_eq!(unescape(r"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(unescape(r"/x\\"), r"/x\\");
    }
}
