//! A fake cgroupfs in a temporary directory for the unit tests of the parent side. It keeps
//! the kernel rules the allocator depends on (cgroup v2 unless noted):
//! - `mkdir` needs write access to the parent (its owner, or root); a new cgroup is offered the
//!   controllers in its parent's `cgroup.subtree_control` and gets their interface files;
//! - a write to `cgroup.procs` moves the whole process; it needs write access to the
//!   destination and to the common ancestor of source and destination (the delegation rule),
//!   and a non-root cgroup with domain controllers in `subtree_control` takes no processes;
//! - `+ctl` in `cgroup.subtree_control` needs `ctl` in `cgroup.controllers` (ENOENT) and no
//!   processes in a non-root cgroup (EBUSY); `-ctl` is refused while a child enables `ctl`;
//! - `rmdir` fails with EBUSY while the cgroup has processes or children;
//! - `/proc/self/cgroup` and `/proc/self/mountinfo` describe where our pid is.
//!
//! Ownership is what systemd's `Delegate=yes` gives: the directory and its files belong to
//! one uid (`.owner`).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::fs::{CgroupFs, ProcessInfo};

const MOUNT: &str = "/sys/fs/cgroup";
const DOMAIN: [&str; 2] = ["memory", "io"];

#[derive(Debug, Clone)]
struct Proc {
    ppid: u32,
    comm: String,
    same_exe: bool,
    /// Exits after this many pauses of the allocator (a short-lived child).
    exits_after: Option<usize>,
}

pub struct Fake {
    dir: PathBuf,
    v1: bool,
    pub me: u32,
    pub euid: u32,
    /// Where systemd, when it runs, puts the scopes it is asked for (`None`: no systemd).
    systemd: Mutex<Option<String>>,
    procs: Mutex<HashMap<u32, Proc>>,
    pauses: AtomicUsize,
    /// Every mutating call, in order (`mkdir /x`, `write /x/cgroup.procs 5`, `kill 7`, ...).
    pub log: Mutex<Vec<String>>,
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

impl Fake {
    fn new(v1: bool, me: u32, euid: u32) -> Fake {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hatchery-fakecg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let f = Fake {
            dir,
            v1,
            me,
            euid,
            systemd: Mutex::new(None),
            procs: Mutex::new(HashMap::new()),
            pauses: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        };
        for m in f.mounts() {
            let d = f.real(Path::new(&m));
            fs::create_dir_all(&d).unwrap();
            f.init_cgroup(&d, 0, if v1 { "" } else { "cpu io memory pids" });
            fs::write(d.join("cgroup.procs"), "1\n").unwrap();
        }
        f.procs.lock().unwrap().insert(1, Proc::named(0, "init"));
        f
    }

    /// A cgroup v2 host with cpu, io, memory and pids at the root; we are `me` as `euid`.
    pub fn v2(me: u32, euid: u32) -> Fake {
        Fake::new(false, me, euid)
    }

    /// A cgroup v1 host with memory, pids and cpu,cpuacct hierarchies.
    pub fn v1(me: u32, euid: u32) -> Fake {
        Fake::new(true, me, euid)
    }

    fn mounts(&self) -> Vec<String> {
        if self.v1 {
            ["memory", "pids", "cpu,cpuacct"]
                .iter()
                .map(|c| format!("{MOUNT}/{c}"))
                .collect()
        } else {
            vec![MOUNT.to_owned()]
        }
    }

    fn real(&self, p: &Path) -> PathBuf {
        self.dir.join(p.strip_prefix("/").unwrap_or(p))
    }

    fn init_cgroup(&self, d: &Path, owner: u32, controllers: &str) {
        fs::write(d.join(".owner"), owner.to_string()).unwrap();
        for f in ["cgroup.procs", "cgroup.subtree_control"] {
            fs::write(d.join(f), "").unwrap();
        }
        fs::write(d.join("cgroup.type"), "domain\n").unwrap();
        self.set_controllers(d, controllers);
    }

    fn set_controllers(&self, d: &Path, controllers: &str) {
        fs::write(d.join("cgroup.controllers"), format!("{controllers}\n")).unwrap();
        let mut files = Vec::new();
        if self.v1 {
            let name = d.to_string_lossy();
            if name.contains("/memory") {
                files.push("memory.max_usage_in_bytes");
            }
        } else {
            for c in words(controllers) {
                match c.as_str() {
                    "memory" => files.extend(["memory.max", "memory.peak"]),
                    "pids" => files.push("pids.max"),
                    _ => {}
                }
            }
        }
        for f in files {
            if !d.join(f).exists() {
                fs::write(d.join(f), "0\n").unwrap();
            }
        }
    }

    /// Creates cgroup `p` (as root) owned by `owner`.
    pub fn cgroup(&self, p: &str, owner: u32) -> &Fake {
        let d = self.real(Path::new(p));
        let parent =
            fs::read_to_string(d.parent().unwrap().join("cgroup.subtree_control")).unwrap();
        fs::create_dir(&d).unwrap();
        self.init_cgroup(&d, owner, parent.trim());
        self
    }

    /// Sets `cgroup.subtree_control` of `p` (as root would, no checks) and propagates.
    pub fn enable(&self, p: &str, controllers: &str) -> &Fake {
        let d = self.real(Path::new(p));
        fs::write(d.join("cgroup.subtree_control"), controllers).unwrap();
        for c in fs::read_dir(&d)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
        {
            self.set_controllers(&c.path(), controllers);
        }
        self
    }

    /// systemd runs, and puts the transient scopes it is asked for in `slice`.
    pub fn systemd_scopes_in(&self, slice: &str) -> &Fake {
        *self.systemd.lock().unwrap() = Some(slice.to_owned());
        self
    }

    /// Overwrites a file (test setup).
    pub fn put(&self, p: &str, content: &str) -> &Fake {
        fs::write(self.real(Path::new(p)), content).unwrap();
        self
    }

    /// Puts process `pid` into cgroup `p` (every hierarchy on v1).
    pub fn spawn(&self, pid: u32, ppid: u32, comm: &str, same_exe: bool, p: &str) -> &Fake {
        self.procs.lock().unwrap().insert(
            pid,
            Proc {
                same_exe,
                ..Proc::named(ppid, comm)
            },
        );
        self.place(pid, p);
        self
    }

    /// Process `pid` exits after the allocator paused `n` times.
    pub fn exits_after(&self, pid: u32, n: usize) -> &Fake {
        self.procs
            .lock()
            .unwrap()
            .get_mut(&pid)
            .unwrap()
            .exits_after = Some(n);
        self
    }

    /// Puts `pid` into cgroup `p` of every hierarchy (test setup).
    pub fn place(&self, pid: u32, p: &str) -> &Fake {
        self.remove_everywhere(pid);
        for m in self.mounts() {
            // On v1, `p` names the same relative cgroup in every hierarchy.
            let rel = p.strip_prefix(MOUNT).unwrap_or(p).trim_start_matches('/');
            let d = self.real(Path::new(&m)).join(rel);
            let procs = d.join("cgroup.procs");
            let mut s = fs::read_to_string(&procs).unwrap();
            s.push_str(&format!("{pid}\n"));
            fs::write(procs, s).unwrap();
        }
        self
    }

    fn remove_everywhere(&self, pid: u32) {
        for m in self.mounts() {
            for d in walk(&self.real(Path::new(&m))) {
                let procs = d.join("cgroup.procs");
                let s = fs::read_to_string(&procs).unwrap_or_default();
                let kept: String = s
                    .lines()
                    .filter(|l| l.trim() != pid.to_string())
                    .map(|l| format!("{l}\n"))
                    .collect();
                if kept != s {
                    fs::write(procs, kept).unwrap();
                }
            }
        }
    }

    /// The cgroup (host path) process `pid` is in, in the first hierarchy.
    pub fn where_is(&self, pid: u32) -> Option<String> {
        let m = self.mounts().remove(0);
        let base = self.real(Path::new(&m));
        walk(&base).into_iter().find_map(|d| {
            let s = fs::read_to_string(d.join("cgroup.procs")).ok()?;
            s.lines().any(|l| l.trim() == pid.to_string()).then(|| {
                let rel = d.strip_prefix(&base).unwrap();
                if rel.as_os_str().is_empty() {
                    m.clone()
                } else {
                    Path::new(&m).join(rel).to_string_lossy().into_owned()
                }
            })
        })
    }

    /// The contents of a file (test assertions).
    pub fn get(&self, p: &str) -> String {
        fs::read_to_string(self.real(Path::new(p))).unwrap_or_default()
    }

    pub fn is_dir(&self, p: &str) -> bool {
        self.real(Path::new(p)).is_dir()
    }

    pub fn mutations(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn note(&self, s: String) {
        self.log.lock().unwrap().push(s);
    }

    fn owner(&self, d: &Path) -> u32 {
        fs::read_to_string(d.join(".owner"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    fn may_write(&self, d: &Path) -> bool {
        self.euid == 0 || self.owner(d) == self.euid
    }

    fn is_root_cgroup(&self, d: &Path) -> bool {
        self.mounts().iter().any(|m| self.real(Path::new(m)) == d)
    }

    fn procs_of(d: &Path) -> Vec<u32> {
        fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn cgroup_of(&self, pid: u32, mount_real: &Path) -> Option<PathBuf> {
        walk(mount_real)
            .into_iter()
            .find(|d| Fake::procs_of(d).contains(&pid))
    }

    fn move_proc(&self, dst: &Path, data: &str) -> io::Result<()> {
        let pid: u32 = data.trim().parse().map_err(|_| err(libc::EINVAL))?;
        let pid = if pid == 0 { self.me } else { pid };
        let mount = self
            .mounts()
            .into_iter()
            .map(|m| self.real(Path::new(&m)))
            .find(|m| dst.starts_with(m))
            .ok_or_else(|| err(libc::ENOENT))?;
        let src = self
            .cgroup_of(pid, &mount)
            .ok_or_else(|| err(libc::ESRCH))?;
        let common: PathBuf = src
            .components()
            .zip(dst.components())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a)
            .collect::<Vec<Component>>()
            .iter()
            .collect();
        if !self.may_write(dst) || !self.may_write(&common) {
            return Err(err(libc::EACCES));
        }
        if !self.v1 && !self.is_root_cgroup(dst) {
            let active = words(&fs::read_to_string(dst.join("cgroup.subtree_control"))?);
            if active.iter().any(|c| DOMAIN.contains(&c.as_str())) {
                return Err(err(libc::EBUSY));
            }
        }
        self.remove_everywhere_in(&mount, pid);
        let mut s = fs::read_to_string(dst.join("cgroup.procs"))?;
        s.push_str(&format!("{pid}\n"));
        fs::write(dst.join("cgroup.procs"), s)
    }

    fn remove_everywhere_in(&self, mount: &Path, pid: u32) {
        for d in walk(mount) {
            let v = Fake::procs_of(&d);
            if v.contains(&pid) {
                let kept: String = v
                    .iter()
                    .filter(|p| **p != pid)
                    .map(|p| format!("{p}\n"))
                    .collect();
                fs::write(d.join("cgroup.procs"), kept).unwrap();
            }
        }
    }

    fn subtree_control(&self, d: &Path, data: &str) -> io::Result<()> {
        if !self.may_write(d) {
            return Err(err(libc::EACCES));
        }
        let offered = words(&fs::read_to_string(d.join("cgroup.controllers"))?);
        let mut active = words(&fs::read_to_string(d.join("cgroup.subtree_control"))?);
        let children: Vec<PathBuf> = fs::read_dir(d)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        for tok in data.split_whitespace() {
            let (on, c) = match tok.split_at(1) {
                ("+", c) => (true, c),
                ("-", c) => (false, c),
                _ => return Err(err(libc::EINVAL)),
            };
            if on {
                if !offered.iter().any(|o| o == c) {
                    return Err(err(libc::ENOENT));
                }
                if !self.is_root_cgroup(d) && !Fake::procs_of(d).is_empty() {
                    return Err(err(libc::EBUSY));
                }
                if !active.iter().any(|a| a == c) {
                    active.push(c.to_owned());
                }
            } else {
                for ch in &children {
                    let sub = words(&fs::read_to_string(ch.join("cgroup.subtree_control"))?);
                    if sub.iter().any(|s| s == c) {
                        return Err(err(libc::EBUSY));
                    }
                }
                active.retain(|a| a != c);
            }
        }
        let joined = active.join(" ");
        fs::write(d.join("cgroup.subtree_control"), &joined)?;
        for ch in &children {
            self.set_controllers(ch, &joined);
        }
        Ok(())
    }

    fn self_cgroup(&self) -> String {
        let mut out = String::new();
        for (i, m) in self.mounts().iter().enumerate() {
            let base = self.real(Path::new(m));
            let rel = self
                .cgroup_of(self.me, &base)
                .map(|d| format!("/{}", d.strip_prefix(&base).unwrap().to_string_lossy()))
                .unwrap_or_else(|| "/".into());
            let rel = if rel == "/" {
                rel
            } else {
                rel.trim_end_matches('/').to_owned()
            };
            if self.v1 {
                let ctl = m.rsplit('/').next().unwrap();
                out.push_str(&format!("{}:{ctl}:{rel}\n", i + 2));
            } else {
                out.push_str(&format!("0::{rel}\n"));
            }
        }
        out
    }

    fn mountinfo(&self) -> String {
        let mut out = String::from("22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n");
        for (i, m) in self.mounts().iter().enumerate() {
            if self.v1 {
                let ctl = m.rsplit('/').next().unwrap();
                out.push_str(&format!(
                    "{} 22 0:{} / {m} rw,nosuid shared:{} - cgroup cgroup rw,{ctl}\n",
                    30 + i,
                    30 + i,
                    10 + i
                ));
            } else {
                out.push_str(&format!(
                    "30 22 0:30 / {m} rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
                ));
            }
        }
        out
    }
}

impl Proc {
    fn named(ppid: u32, comm: &str) -> Proc {
        Proc {
            ppid,
            comm: comm.to_owned(),
            same_exe: false,
            exits_after: None,
        }
    }
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![d.to_path_buf()];
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl CgroupFs for Fake {
    fn read(&self, path: &Path) -> io::Result<String> {
        match path.to_str() {
            Some("/proc/self/cgroup") => Ok(self.self_cgroup()),
            Some("/proc/self/mountinfo") => Ok(self.mountinfo()),
            _ => fs::read_to_string(self.real(path)),
        }
    }

    fn write(&self, path: &Path, data: &str) -> io::Result<()> {
        self.note(format!("write {} {data}", path.display()));
        let real = self.real(path);
        let dir = real.parent().ok_or_else(|| err(libc::ENOENT))?;
        if !real.exists() {
            return Err(err(libc::ENOENT));
        }
        match real.file_name().and_then(|n| n.to_str()) {
            Some("cgroup.procs") => self.move_proc(dir, data),
            Some("cgroup.subtree_control") if !self.v1 => self.subtree_control(dir, data),
            _ if !self.may_write(dir) => Err(err(libc::EACCES)),
            _ => fs::write(&real, data),
        }
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        self.note(format!("mkdir {}", path.display()));
        let real = self.real(path);
        let parent = real.parent().ok_or_else(|| err(libc::ENOENT))?;
        if !parent.join("cgroup.procs").exists() {
            return Err(err(libc::ENOENT));
        }
        if !self.may_write(parent) {
            return Err(err(libc::EACCES));
        }
        if real.exists() {
            return Err(err(libc::EEXIST));
        }
        let offered = if self.v1 {
            String::new()
        } else {
            fs::read_to_string(parent.join("cgroup.subtree_control"))?
        };
        fs::create_dir(&real)?;
        self.init_cgroup(&real, self.euid, offered.trim());
        Ok(())
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        self.note(format!("rmdir {}", path.display()));
        let real = self.real(path);
        if !real.join("cgroup.procs").exists() {
            return Err(err(libc::ENOENT));
        }
        if !self.may_write(real.parent().unwrap()) {
            return Err(err(libc::EACCES));
        }
        let has_children = fs::read_dir(&real)?.flatten().any(|e| e.path().is_dir());
        if has_children || !Fake::procs_of(&real).is_empty() {
            return Err(err(libc::EBUSY));
        }
        fs::remove_dir_all(&real)
    }

    fn exists(&self, path: &Path) -> bool {
        if path == Path::new("/run/systemd/system") {
            return self.systemd.lock().unwrap().is_some();
        }
        self.real(path).exists()
    }

    fn subdirs(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut v: Vec<String> = fs::read_dir(self.real(path))?
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        Ok(v)
    }

    fn pid(&self) -> u32 {
        self.me
    }

    fn euid(&self) -> u32 {
        self.euid
    }

    fn process(&self, pid: u32) -> Option<ProcessInfo> {
        if pid == self.me {
            return Some(ProcessInfo {
                ppid: 1,
                comm: "hatchery".into(),
                same_exe: true,
            });
        }
        let p = self.procs.lock().unwrap().get(&pid).cloned()?;
        Some(ProcessInfo {
            ppid: p.ppid,
            comm: p.comm,
            same_exe: p.same_exe,
        })
    }

    fn kill(&self, pid: u32) {
        self.note(format!("kill {pid}"));
        self.procs.lock().unwrap().remove(&pid);
        self.remove_everywhere(pid);
    }

    /// What systemd does for StartTransientUnit with `PIDs=[me]` and `Delegate=yes`: creates
    /// the scope in its slice (whose `subtree_control` offers the controllers), gives it to
    /// the caller, moves the caller in.
    fn delegated_scope(&self) -> io::Result<String> {
        self.note("systemd StartTransientUnit".to_owned());
        let slice = self
            .systemd
            .lock()
            .unwrap()
            .clone()
            .ok_or_else(|| io::Error::other("no systemd"))?;
        if !self.real(Path::new(&slice)).join("cgroup.procs").exists() {
            return Err(io::Error::other(format!(
                "the slice {slice} does not exist"
            )));
        }
        let unit = format!("hatchery-{}.scope", self.me);
        self.cgroup(&format!("{slice}/{unit}"), self.euid);
        self.place(self.me, &format!("{slice}/{unit}"));
        Ok(unit)
    }

    fn pause(&self, _d: std::time::Duration) {
        let n = self.pauses.fetch_add(1, Ordering::SeqCst) + 1;
        let gone: Vec<u32> = self
            .procs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, p)| p.exits_after.is_some_and(|k| k <= n))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in gone {
            self.procs.lock().unwrap().remove(&pid);
            self.remove_everywhere(pid);
        }
    }
}
