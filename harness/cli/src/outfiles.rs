//! `--stdout FILE`, `--stderr FILE`, `--meta FILE` (isolate's flags) and the same per job:
//! the case's output and its JSON result written to files by the runner. Every file is
//! opened before any case runs, never through a symbolic link as its last component, so a
//! case cannot redirect what the runner writes (a link planted where a file will be).

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use hatchery_report::{Captured, CaseResult};

/// Where one case's output and result go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutPaths {
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub meta: Option<PathBuf>,
}

impl OutPaths {
    pub fn is_empty(&self) -> bool {
        self.stdout.is_none() && self.stderr.is_none() && self.meta.is_none()
    }

    /// Each path relative to `base`.
    pub fn under(&self, base: &Path) -> OutPaths {
        let j = |p: &Option<PathBuf>| p.as_ref().map(|p| base.join(p));
        OutPaths {
            stdout: j(&self.stdout),
            stderr: j(&self.stderr),
            meta: j(&self.meta),
        }
    }
}

/// The files of one case, open.
pub struct OutFiles {
    stdout: Option<File>,
    stderr: Option<File>,
    meta: Option<File>,
}

/// Creates (or truncates) `p` for writing: not through a symbolic link, not a directory.
fn create(p: &Path, what: &str) -> Result<File, String> {
    let f = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NOCTTY)
        .open(p)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ELOOP) => format!(
                "cannot create {what} file {}: it is a symbolic link (refused: give the path it \
                 leads to)",
                p.display()
            ),
            _ => format!("cannot create {what} file {}: {e}", p.display()),
        })?;
    Ok(f)
}

/// A stream as the meta file shows it: whole, or (written to a file) its counts alone.
fn kept(c: &Captured, whole: bool) -> Captured {
    Captured {
        data: if whole { c.data.clone() } else { Vec::new() },
        bytes: c.bytes,
        truncated: c.truncated,
        file: c.file.clone(),
    }
}

impl OutFiles {
    /// Opens every file named (before the case runs). The error names the file.
    pub fn open(paths: &OutPaths) -> Result<OutFiles, String> {
        let open = |p: &Option<PathBuf>, what| p.as_deref().map(|p| create(p, what)).transpose();
        Ok(OutFiles {
            stdout: open(&paths.stdout, "stdout")?,
            stderr: open(&paths.stderr, "stderr")?,
            meta: open(&paths.meta, "meta")?,
        })
    }

    /// Writes the case's output to its files, then `result` as JSON to the meta file with
    /// the streams written to files left out (their byte counts stay).
    pub fn write(&mut self, result: &CaseResult) -> Result<(), String> {
        let streams = [
            (&mut self.stdout, &result.stdout, "stdout"),
            (&mut self.stderr, &result.stderr, "stderr"),
        ];
        for (file, captured, what) in streams {
            if let Some(f) = file {
                f.write_all(&captured.data)
                    .map_err(|e| format!("failed to write the {what} file: {e}"))?;
            }
        }
        if let Some(f) = &mut self.meta {
            let mut m = result.with_output_kept(0);
            m.stdout = kept(&result.stdout, self.stdout.is_none());
            m.stderr = kept(&result.stderr, self.stderr.is_none());
            serde_json::to_writer(&mut *f, &m)
                .map_err(|e| format!("failed to write the meta file: {e}"))?;
            writeln!(f).map_err(|e| format!("failed to write the meta file: {e}"))?;
        }
        Ok(())
    }

    /// Leaves out of `result` the streams written to files (for what is printed).
    pub fn strip(&self, result: &mut CaseResult) {
        if self.stdout.is_some() {
            result.stdout.data = Vec::new();
        }
        if self.stderr.is_some() {
            result.stderr.data = Vec::new();
        }
    }
}
