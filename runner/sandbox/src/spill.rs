//! The supervisor's side of output spilling ([`Spill`]): the spill files, reused from case to
//! case, and what a result shows of a spilled stream (head, a line saying what is left out,
//! tail; the whole stream copied to a named file when the case failed).

use std::fs::File;
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::{FileExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hatchery_report::{Captured, CaseResult, Outcome};

use crate::policy::Spill;

/// One case's spill files (stdout's, stderr's), `O_APPEND`, without a name.
pub(crate) struct SpillFiles {
    pub dir: PathBuf,
    pub files: [File; 2],
}

impl SpillFiles {
    /// Two fresh unnamed files in `dir`. `O_TMPFILE` (Linux 3.11; tmpfs, ext4, xfs, btrfs):
    /// the file never has a name, so nothing can open it by path, and it vanishes with its
    /// last descriptor.
    pub fn open(dir: &Path) -> io::Result<SpillFiles> {
        let one = || {
            std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .mode(0o600)
                .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
                .open(dir)
        };
        Ok(SpillFiles {
            dir: dir.to_path_buf(),
            files: [one()?, one()?],
        })
    }
}

/// Fills in the spilled streams of `r` (head, a line saying what is left out, tail) and keeps
/// the whole streams of a failed case in named files when asked. Returns the files for reuse
/// (emptied), or `None` when they cannot be emptied.
pub(crate) fn finish(s: SpillFiles, spec: &Spill, r: &mut CaseResult) -> Option<SpillFiles> {
    let keep = spec.keep_failed && r.outcome != Outcome::Ok;
    for (i, f) in s.files.iter().enumerate() {
        let c = if i == 0 { &mut r.stdout } else { &mut r.stderr };
        let spilled = f.metadata().map(|m| m.len()).unwrap_or(0);
        if spilled == 0 {
            continue;
        }
        let head = c.data.len() as u64;
        if spilled <= spec.tail_bytes && head + spilled == c.bytes {
            // The tail is the whole rest: the result holds the whole stream.
            let mut t = vec![0u8; spilled as usize];
            if f.read_exact_at(&mut t, 0).is_ok() {
                c.data.extend_from_slice(&t);
                c.truncated = false;
                continue;
            }
        }
        let name = match keep {
            true => keep_whole(&c.data, f, &s.dir, if i == 0 { "stdout" } else { "stderr" }).ok(),
            false => None,
        };
        show(c, f, spilled, spec.tail_bytes, name);
    }
    for f in &s.files {
        if f.set_len(0).is_err() {
            return None;
        }
    }
    Some(s)
}

/// Head (already in `c.data`), then a line saying what is left out and where the whole stream
/// is, then the last `tail` bytes of the spill file.
fn show(c: &mut Captured, f: &File, spilled: u64, tail: u64, name: Option<PathBuf>) {
    let head = c.data.len() as u64;
    let take = spilled.min(tail);
    let mut t = vec![0u8; take as usize];
    let got = f.read_exact_at(&mut t, spilled - take).is_ok();
    let shown = head + if got { take } else { 0 };
    // A spill that stopped early (a full disk) holds less than what the case wrote.
    let incomplete = head + spilled < c.bytes;
    let mut line = format!(
        "\n[... hatchery: {} of {} bytes not shown",
        c.bytes.saturating_sub(shown),
        c.bytes
    );
    match &name {
        Some(p) => line.push_str(&format!("; whole stream in {}", p.display())),
        None if incomplete => line.push_str("; the spill file stopped early (disk full?)"),
        None => {}
    }
    line.push_str(" ...]\n");
    c.data.extend_from_slice(line.as_bytes());
    if got {
        c.data.extend_from_slice(&t);
    }
    c.truncated = true;
    c.file = name;
}

/// Writes the whole stream, `head` then the spill file's contents, to a new file in `dir`
/// (mode 0600; the copy runs in the kernel: `std::io::copy` uses `copy_file_range`).
fn keep_whole(head: &[u8], f: &File, dir: &Path, stream: &str) -> io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("output-{}-{n}.{stream}", std::process::id()));
        let mut out = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
        {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            r => r?,
        };
        let written = (|| {
            out.write_all(head)?;
            let mut from = f;
            (&mut from).seek(SeekFrom::Start(0))?;
            io::copy(&mut from, &mut out)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        return Ok(path);
    }
}
