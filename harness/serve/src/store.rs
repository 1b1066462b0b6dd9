//! The file store (`/file`, `fileId`, `copyOutCached`): files kept by a random id in one
//! directory of ours (mode 0700, hidden from every case's view), under a size quota; when an
//! addition would exceed it, the least recently used files are evicted first.
//!
//! Clients name files only by id: an id is checked to be one of ours (16 characters of
//! `A-Z2-7`, as go-judge's ids are) before it is used as a file name, and files are opened
//! through the store's descriptor without following links.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::io::Read as _;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hatchery_sandbox::fsat;
use rand::Rng as _;

const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ID_LEN: usize = 16;
/// Longest original name kept for a file (`GET /file` shows it).
pub const MAX_NAME: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("file of {size} bytes is larger than the store's largest file ({max} bytes)")]
    TooLarge { size: u64, max: u64 },
    #[error("no file with id `{0}`")]
    NotFound(String),
    #[error("cannot write file {id} in the store")]
    Write {
        id: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read file {id} of the store")]
    Read {
        id: String,
        #[source]
        source: std::io::Error,
    },
}

struct Entry {
    name: String,
    size: u64,
    used: u64,
}

#[derive(Default)]
struct Index {
    files: HashMap<String, Entry>,
    bytes: u64,
    clock: u64,
}

/// The store. Shared by every request (its index behind a mutex; file contents are written
/// before an id is published, so a reader never sees half a file).
pub struct Store {
    dir: PathBuf,
    dir_fd: OwnedFd,
    quota: u64,
    max_file: u64,
    index: Mutex<Index>,
}

/// What `/metrics` shows of the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreStats {
    pub files: u64,
    pub bytes: u64,
    pub evicted: u64,
}

impl Store {
    /// A store in `dir` (ours, created empty by the caller).
    pub fn open(dir: &Path, quota: u64, max_file: u64) -> std::io::Result<Store> {
        let dir_fd = fsat::open_dir(dir)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            dir_fd,
            quota,
            max_file: max_file.min(quota),
            index: Mutex::new(Index::default()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_file(&self) -> u64 {
        self.max_file
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `id` has the shape of one of our ids (so it is a safe file name).
    pub fn valid_id(id: &str) -> bool {
        id.len() == ID_LEN && id.bytes().all(|b| ID_ALPHABET.contains(&b))
    }

    /// Adds a file; evicts the least recently used files while the store would exceed its
    /// quota. Returns the new id.
    pub fn add(&self, name: &str, data: &[u8]) -> Result<String, StoreError> {
        let size = data.len() as u64;
        if size > self.max_file {
            return Err(StoreError::TooLarge {
                size,
                max: self.max_file,
            });
        }
        let name: String = name.chars().take(MAX_NAME).collect();
        let mut victims = Vec::new();
        let id = {
            let mut ix = self.lock();
            let id = loop {
                let mut rng = rand::thread_rng();
                let id: String = (0..ID_LEN)
                    .map(|_| ID_ALPHABET[rng.gen_range(0..ID_ALPHABET.len())] as char)
                    .collect();
                if !ix.files.contains_key(&id) {
                    break id;
                }
            };
            while ix.bytes + size > self.quota {
                let Some(old) = ix
                    .files
                    .iter()
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                if let Some(e) = ix.files.remove(&old) {
                    ix.bytes -= e.size;
                }
                victims.push(old);
            }
            // Reserved now (counted in the quota); published with its name below.
            ix.bytes += size;
            id
        };
        self.evicted(victims);
        if let Err(source) = fsat::write_new(self.dir_fd.as_fd(), OsStr::new(&id), data, 0o600) {
            let _ = nix::unistd::unlinkat(
                Some(std::os::fd::AsRawFd::as_raw_fd(&self.dir_fd)),
                id.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
            self.lock().bytes -= size;
            return Err(StoreError::Write { id, source });
        }
        let mut ix = self.lock();
        ix.clock += 1;
        let used = ix.clock;
        ix.files.insert(id.clone(), Entry { name, size, used });
        Ok(id)
    }

    fn evicted(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        EVICTED.fetch_add(ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for id in ids {
            let _ = nix::unistd::unlinkat(
                Some(std::os::fd::AsRawFd::as_raw_fd(&self.dir_fd)),
                id.as_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
    }

    /// The content and original name of a file (marks it used).
    pub fn get(&self, id: &str) -> Result<(String, Vec<u8>), StoreError> {
        let name = {
            let mut ix = self.lock();
            ix.clock += 1;
            let now = ix.clock;
            match ix.files.get_mut(id) {
                Some(e) if Self::valid_id(id) => {
                    e.used = now;
                    e.name.clone()
                }
                _ => return Err(StoreError::NotFound(id.to_owned())),
            }
        };
        let read = |id: &str| -> std::io::Result<Vec<u8>> {
            let f = hatchery_sys::openat2_beneath(
                self.dir_fd.as_fd(),
                Path::new(id),
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )?;
            let mut buf = Vec::new();
            std::fs::File::from(f)
                .take(self.max_file + 1)
                .read_to_end(&mut buf)?;
            Ok(buf)
        };
        match read(id) {
            Ok(b) => Ok((name, b)),
            // Evicted or deleted between the index and the read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(id.to_owned()))
            }
            Err(source) => Err(StoreError::Read {
                id: id.to_owned(),
                source,
            }),
        }
    }

    /// Deletes a file; false when there was none.
    pub fn delete(&self, id: &str) -> bool {
        let removed = {
            let mut ix = self.lock();
            match ix.files.remove(id) {
                Some(e) => {
                    ix.bytes -= e.size;
                    true
                }
                None => false,
            }
        };
        if removed {
            let _ = nix::unistd::unlinkat(
                Some(std::os::fd::AsRawFd::as_raw_fd(&self.dir_fd)),
                id,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        removed
    }

    /// Every id with its original name (go-judge's `GET /file`).
    pub fn list(&self) -> BTreeMap<String, String> {
        self.lock()
            .files
            .iter()
            .map(|(k, e)| (k.clone(), e.name.clone()))
            .collect()
    }

    pub fn stats(&self) -> StoreStats {
        let ix = self.lock();
        StoreStats {
            files: ix.files.len() as u64,
            bytes: ix.bytes,
            evicted: EVICTED.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

static EVICTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    fn store(quota: u64) -> (Store, PathBuf) {
        let d = std::env::temp_dir().join(format!(
            "hatchery-store-test-{}-{}",
            std::process::id(),
            rand::thread_rng().gen::<u32>()
        ));
        std::fs::create_dir(&d).unwrap();
        (Store::open(&d, quota, quota).unwrap(), d)
    }

    #[test]
    fn add_get_list_delete() {
        let (s, d) = store(1 << 20);
        let id = s.add("a.cc", b"int main(){}").unwrap();
        assert!(Store::valid_id(&id), "{id}");
        assert_eq!(
            s.get(&id).unwrap(),
            ("a.cc".into(), b"int main(){}".to_vec())
        );
        assert_eq!(s.list().get(&id).map(String::as_str), Some("a.cc"));
        assert!(s.delete(&id));
        assert!(!s.delete(&id));
        assert!(matches!(s.get(&id), Err(StoreError::NotFound(_))));
        assert_eq!(s.stats().bytes, 0);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn quota_evicts_least_recently_used() {
        let (s, d) = store(10);
        let a = s.add("a", b"aaaa").unwrap();
        let b = s.add("b", b"bbbb").unwrap();
        // `a` used after `b`: `b` goes first.
        s.get(&a).unwrap();
        let c = s.add("c", b"cccc").unwrap();
        assert!(s.get(&b).is_err());
        assert!(s.get(&a).is_ok() && s.get(&c).is_ok());
        assert_eq!(s.stats().bytes, 8);
        assert!(matches!(
            s.add("big", &[0; 11]),
            Err(StoreError::TooLarge { size: 11, max: 10 })
        ));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn ids_that_are_paths_are_not_ids() {
        for bad in [
            "../../etc/passwd",
            "AAAAAAAAAAAAAAA/",
            "",
            "aaaaaaaaaaaaaaaa",
        ] {
            assert!(!Store::valid_id(bad), "{bad}");
        }
    }
}
