//! The supervisor ↔ zygote protocol over a Unix stream socket.
//!
//! A frame is a little-endian `u32` length followed by that many bytes of JSON; file
//! descriptors travel with the first byte of a frame as `SCM_RIGHTS`. Every decoder has a size
//! cap: the zygote reads requests of at most [`MAX_REQUEST_BYTES`], the supervisor replies of
//! at most what the case's output limit allows.

use std::io::{self, IoSlice, IoSliceMut, Read as _};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use hatchery_report::{Enforcement, Limits, RawFacts};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::cgroup::Version;
use crate::policy::{SeccompProfile, Tier};

/// Largest request the zygote accepts (argv + environment + paths, as JSON).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Most descriptors one frame may carry.
pub const MAX_FDS: usize = 8;

/// First message from the supervisor: how to set the zygote up. Carries the cgroup directory
/// descriptors, if any.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZygoteInit {
    pub tier: Tier,
    pub network: bool,
    /// Lines for `/proc/self/uid_map` and `gid_map` (tiers with a user namespace).
    pub uid_map: String,
    pub gid_map: String,
    /// Unprivileged: `setgroups` must be denied before writing `gid_map`.
    pub deny_setgroups: bool,
    /// uid/gid the zygote has inside its user namespace after setup.
    pub zygote_ns_id: u32,
    /// uid/gid the case switches to (inside the namespace; on the host for tier `none`).
    pub case_uid: u32,
    pub case_gid: u32,
    /// Whether the case can switch ids at all (false: unprivileged tier `none`).
    pub switch_ids: bool,
    pub cgroup: Option<Version>,
    pub tmp_size_bytes: u64,
    pub supervisor_pid: i32,
    /// Seccomp profile the zygote installs on itself once, so cases inherit it for free.
    /// `default`: cases get `default` (nothing to install) or `strict` (one filter stacked);
    /// `off`: every case installs its whole profile.
    pub seccomp_base: SeccompProfile,
    /// Pin the zygote, and so every case, to this CPU.
    #[serde(default)]
    pub cpu: Option<usize>,
}

/// The zygote's answers to [`ZygoteInit`]: `Unshared` (the launcher is in its new user
/// namespace and waits for the supervisor to write its id maps and send [`MapsWritten`]), then
/// `Ready` or `Failed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Hello {
    Unshared,
    Ready {
        /// Layers as the zygote set them up (namespaces, mounts, cgroup files).
        enforcement: Enforcement,
    },
    Failed {
        error: String,
    },
}

/// The supervisor wrote the launcher's uid/gid maps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MapsWritten;

/// One case. Descriptors: the executable, then stdin when `has_stdin`, then the working
/// directory when `has_cwd_fd` (tiers without a new root only: a directory descriptor from
/// outside a `pivot_root` would be a way out of it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseRequest {
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub limits: Limits,
    pub seccomp: SeccompProfile,
    /// The executable is a `#!` script: keep its descriptor open across exec so the
    /// interpreter can read it through `/dev/fd/N`.
    pub script: bool,
    pub has_stdin: bool,
    pub has_cwd_fd: bool,
}

/// The zygote's answer to a [`CaseRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseReply {
    pub facts: RawFacts,
}

/// Protocol failures.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("peer closed the connection")]
    Closed,
    #[error("frame of {len} bytes exceeds the limit of {cap}")]
    TooLarge { len: usize, cap: usize },
    #[error("malformed frame")]
    Decode(#[source] serde_json::Error),
    #[error("socket error")]
    Io(#[from] io::Error),
    #[error("{0} unexpected bytes after a frame")]
    Trailing(usize),
}

/// Sends one frame with descriptors.
pub fn send<T: Serialize>(sock: &UnixStream, msg: &T, fds: &[RawFd]) -> Result<(), WireError> {
    let body = serde_json::to_vec(msg).map_err(WireError::Decode)?;
    let len = (body.len() as u32).to_le_bytes();
    let mut iov = [IoSlice::new(&len), IoSlice::new(&body)];
    let total = len.len() + body.len();
    let cmsg = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    let mut sent = loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(WireError::Io(e.into())),
        }
    };
    // Descriptors went with the first chunk; write the rest plainly.
    while sent < total {
        let (a, b) = if sent < len.len() {
            (&len[sent..], &body[..])
        } else {
            (&[][..], &body[sent - len.len()..])
        };
        iov = [IoSlice::new(a), IoSlice::new(b)];
        match sendmsg::<()>(sock.as_raw_fd(), &iov, &[], MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => sent += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(WireError::Io(e.into())),
        }
    }
    Ok(())
}

/// Bytes of a frame body read together with its length.
const INLINE_BYTES: usize = 8 << 10;

/// Receives one frame of at most `cap` bytes and the descriptors that came with it.
pub fn recv<T: DeserializeOwned>(
    sock: &UnixStream,
    cap: usize,
) -> Result<(T, Vec<OwnedFd>), WireError> {
    // The length and, usually, the whole body come in one recvmsg: frames are small and the
    // protocol has one frame in flight per direction, so nothing of a next frame can follow.
    let mut head = [0u8; 4];
    let mut inline = [0u8; INLINE_BYTES];
    let mut got_head = 0;
    let mut got_inline = 0;
    let mut fds = Vec::new();
    while got_head < head.len() {
        let mut cmsg_buf = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [
            IoSliceMut::new(&mut head[got_head..]),
            IoSliceMut::new(&mut inline),
        ];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => m,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(WireError::Io(e.into())),
        };
        if msg.bytes == 0 {
            return Err(WireError::Closed);
        }
        if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(WireError::TooLarge {
                len: MAX_FDS + 1,
                cap: MAX_FDS,
            });
        }
        for c in msg.cmsgs().map_err(|e| WireError::Io(e.into()))? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                for fd in raw {
                    fds.push(owned(fd));
                }
            }
        }
        let bytes = msg.bytes;
        let for_head = bytes.min(4 - got_head);
        got_head += for_head;
        got_inline = bytes - for_head;
    }
    let n = u32::from_le_bytes(head) as usize;
    if n > cap {
        return Err(WireError::TooLarge { len: n, cap });
    }
    if got_inline > n {
        return Err(WireError::Trailing(got_inline - n));
    }
    let mut body = Vec::with_capacity(n);
    body.extend_from_slice(&inline[..got_inline]);
    body.resize(n, 0);
    let mut s = sock;
    s.read_exact(&mut body[got_inline..]).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            WireError::Closed
        } else {
            WireError::Io(e)
        }
    })?;
    let v = serde_json::from_slice(&body).map_err(WireError::Decode)?;
    Ok((v, fds))
}

fn owned(fd: RawFd) -> OwnedFd {
    hatchery_sys::own_fd(fd)
}

/// Decodes a request body (exposed for the fuzz targets).
pub fn decode_request(body: &[u8]) -> Result<CaseRequest, WireError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(WireError::TooLarge {
            len: body.len(),
            cap: MAX_REQUEST_BYTES,
        });
    }
    serde_json::from_slice(body).map_err(WireError::Decode)
}
