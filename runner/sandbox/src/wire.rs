//! The supervisor ↔ zygote protocol over a Unix stream socket.
//!
//! A frame is a little-endian `u32` body length, then the body: a little-endian `u32` header
//! length, that many bytes of JSON (the header), and a tail of raw bytes (empty except in a
//! [`CaseReply`], where it carries the captured output, so that output bytes cost one byte
//! each on the wire instead of up to six as JSON escapes). File descriptors travel with the
//! first byte of a frame as `SCM_RIGHTS`. Every decoder has a size cap: the zygote reads
//! requests of at most [`MAX_REQUEST_BYTES`], the supervisor replies of at most
//! [`reply_cap`] of the case's output limit. [`decode_frame`] is the pure decoding half of
//! [`recv`] (fuzzed in `fuzz/fuzz_targets/wire_recv.rs`).

use std::io::{self, IoSlice, IoSliceMut, Read as _};
use std::os::fd::{AsFd as _, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use hatchery_report::{Enforcement, Limits, RawFacts};
use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use crate::child::Step as ChildStep;

use crate::cgroup::Version;
use crate::policy::{SeccompProfile, Tier};

/// Largest request the zygote accepts (argv + environment + paths, as JSON).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;
/// Most descriptors one frame may carry.
pub const MAX_FDS: usize = hatchery_sys::MAX_RECV_FDS;
/// Largest JSON header of a [`CaseReply`]. The zygote keeps every string of a reply short
/// (details and reasons are clipped to [`MAX_DETAIL_BYTES`], a syscall name, an interpreter
/// path of at most a few hundred bytes), so a header is a few KiB at most.
pub const MAX_REPLY_HEADER_BYTES: usize = 64 << 10;
/// Longest detail or reason string the zygote puts into a reply.
pub const MAX_DETAIL_BYTES: usize = 1024;

/// Largest reply frame body for a case whose captured output is at most `output_bytes`
/// (stdout and stderr together: the zygote keeps no more than that across both streams).
///
/// Body = 4 (header length) + header (at most [`MAX_REPLY_HEADER_BYTES`]) + the output bytes,
/// raw in the tail, one byte each. So the bound is the output limit plus a constant.
pub fn reply_cap(output_bytes: u64) -> usize {
    usize::try_from(output_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(4 + MAX_REPLY_HEADER_BYTES)
}

/// First message from the supervisor: how to set the zygote up. Carries the cgroup directory
/// descriptors, if any.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZygoteInit {
    pub tier: Tier,
    pub network: crate::policy::Network,
    /// Lines for `/proc/self/uid_map` and `gid_map` (tiers with a user namespace).
    pub uid_map: String,
    pub gid_map: String,
    /// Unprivileged: `setgroups` must be denied before writing `gid_map`.
    pub deny_setgroups: bool,
    /// uid/gid the zygote has inside its user namespace after setup.
    pub zygote_ns_id: u32,
    /// Root only, tiers with a user namespace: the host uid and gid (the cases') the launcher
    /// takes before it creates the namespace, so that the namespace's owner, to whom the
    /// kernel charges its processes' per-user counts, is that uid and not root. The launcher
    /// becomes the namespace's root again once the maps are written.
    #[serde(default)]
    pub ns_owner: Option<(u32, u32)>,
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
    /// Host paths shown or hidden beyond the tier's defaults.
    #[serde(default)]
    pub view: crate::policy::View,
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
    #[serde(with = "text_bytes::list")]
    pub argv: Vec<Vec<u8>>,
    #[serde(with = "text_bytes::list")]
    pub env: Vec<Vec<u8>>,
    #[serde(with = "text_bytes")]
    pub cwd: Vec<u8>,
    pub limits: Limits,
    pub seccomp: SeccompProfile,
    /// The executable is a `#!` script: keep its descriptor open across exec so the
    /// interpreter can read it through `/dev/fd/N`.
    pub script: bool,
    /// The program's path as resolved on the host: a script is executed by this path when the
    /// case's view has the same file there, so that it sees its own name in `$0` (shims
    /// dispatch on it); by its descriptor otherwise.
    #[serde(default, with = "text_bytes")]
    pub program: Vec<u8>,
    pub has_stdin: bool,
    pub has_cwd_fd: bool,
    /// Two more descriptors follow (stdout's and stderr's spill files, `O_APPEND`): output
    /// beyond `capture_bytes` is appended there instead of being dropped.
    #[serde(default)]
    pub has_spill: bool,
    /// Two more descriptors follow (after the spill files): pipes the zygote copies the case's
    /// stdout and stderr to as they arrive (live output), besides capturing them.
    #[serde(default)]
    pub has_live: bool,
    /// Output (stdout and stderr together) kept in memory and sent back in the reply;
    /// `None`: the output limit, else the zygote's default.
    #[serde(default)]
    pub capture_bytes: Option<u64>,
    /// See [`crate::CaseSpec::leak_wait`], in microseconds.
    #[serde(default)]
    pub leak_wait_us: Option<u64>,
    /// See [`crate::CaseSpec::kill_grace`], in microseconds.
    #[serde(default)]
    pub kill_grace_us: Option<u64>,
}

/// Byte strings (argv, environment, paths) on the wire: a JSON string when they are UTF-8 (the
/// usual case, and cheap to decode), an array of byte values otherwise. Either is accepted.
mod text_bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(b) {
            Ok(t) => s.serialize_str(t),
            Err(_) => s.collect_seq(b),
        }
    }

    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or an array of bytes")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Vec<u8>, E> {
            Ok(v.into_bytes())
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(Bytes)
    }

    /// A list of byte strings, each as above.
    pub mod list {
        use serde::de::{Deserializer, SeqAccess, Visitor};
        use serde::ser::{SerializeSeq, Serializer};

        struct One<'a>(&'a [u8]);

        impl serde::Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                super::serialize(self.0, s)
            }
        }

        struct Owned(Vec<u8>);

        impl<'de> serde::Deserialize<'de> for Owned {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Owned, D::Error> {
                super::deserialize(d).map(Owned)
            }
        }

        pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for b in v {
                seq.serialize_element(&One(b))?;
            }
            seq.end()
        }

        struct List;

        impl<'de> Visitor<'de> for List {
            type Value = Vec<Vec<u8>>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of byte strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Vec<u8>>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 12));
                while let Some(Owned(b)) = seq.next_element::<Owned>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
            d.deserialize_seq(List)
        }
    }
}

/// The zygote's own state after a case, beside the case's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Everything the case left was removed: the next case starts clean.
    #[default]
    Clean,
    /// Cleaning up after the case failed: this zygote must not run another case.
    Retire { reason: String },
}

/// The step of the zygote's work on a case that failed, as a code on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepCode {
    /// A case was sent to a zygote that had retired.
    Retired,
    BadRequest,
    OpenDevNull,
    OpenCwd,
    SeccompFilter,
    CgroupWrite,
    Pipe,
    Clone,
    ChildStep(ChildStep),
    Wait,
    Poll,
    KillLeftovers,
    DrainPipes,
    ScratchReset,
    SysvRemove,
    MqueueRemove,
}

impl StepCode {
    /// What the zygote was doing, to follow "failed to".
    pub fn action(self) -> &'static str {
        match self {
            StepCode::Retired => "run a case: it retired after an earlier one",
            StepCode::BadRequest => "understand the request",
            StepCode::OpenDevNull => "open /dev/null for the case's stdin",
            StepCode::OpenCwd => "open the working directory inside the sandbox",
            StepCode::SeccompFilter => "build the case's seccomp filter",
            StepCode::CgroupWrite => "set the case's cgroup limits",
            StepCode::Pipe => "create the output pipes",
            StepCode::Clone => "clone the case process",
            StepCode::ChildStep(s) => s.action(),
            StepCode::Wait => "wait for the case process",
            StepCode::Poll => "poll the case's descriptors",
            StepCode::KillLeftovers => "kill the processes the case left behind",
            StepCode::DrainPipes => "drain the case's output pipes",
            StepCode::ScratchReset => "wipe the scratch directories",
            StepCode::SysvRemove => "remove the case's SysV IPC objects",
            StepCode::MqueueRemove => "remove the case's POSIX message queues",
        }
    }
}

/// A failed step of the zygote: its code, the OS error number and a short detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    pub step: StepCode,
    #[serde(default)]
    pub errno: Option<i32>,
    #[serde(default)]
    pub detail: Option<String>,
}

impl StepFailure {
    /// "the zygote failed to create the output pipes: EMFILE (Too many open files)".
    pub fn render(&self) -> String {
        let mut s = format!("the zygote failed to {}", self.step.action());
        if let Some(d) = &self.detail {
            s.push_str(" (");
            s.push_str(d);
            s.push(')');
        }
        if let Some(e) = self.errno {
            s.push_str(": ");
            s.push_str(&errno_text(e));
        }
        s
    }
}

/// "EMFILE (Too many open files)".
pub fn errno_text(e: i32) -> String {
    let e = Errno::from_raw(e);
    format!("{e:?} ({})", e.desc())
}

/// Cuts `s` to at most [`MAX_DETAIL_BYTES`] (at a character boundary).
pub fn clip(mut s: String) -> String {
    if s.len() > MAX_DETAIL_BYTES {
        let mut end = MAX_DETAIL_BYTES - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

/// The zygote's answer to a [`CaseRequest`]. Travels as a JSON header (the facts without the
/// output bytes) followed by stdout and stderr raw in the frame's tail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseReply {
    /// What happened to the case (`error` stays `None` on the wire: see `failure`).
    pub facts: RawFacts,
    /// The zygote could not run the case: which step failed.
    pub failure: Option<StepFailure>,
    /// Whether the zygote may serve another case.
    pub health: Health,
}

#[derive(Serialize, Deserialize)]
struct ReplyHeader {
    facts: RawFacts,
    failure: Option<StepFailure>,
    health: Health,
    stdout_len: u64,
    stderr_len: u64,
}

/// Protocol failures.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("peer closed the connection")]
    Closed,
    #[error("frame of {len} bytes exceeds the limit of {cap}")]
    TooLarge { len: usize, cap: usize },
    #[error("more than {max} descriptors came with a frame")]
    TooManyFds { max: usize },
    #[error("frame truncated: {got} of {len} bytes")]
    Truncated { len: usize, got: usize },
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    #[error("malformed frame")]
    Decode(#[source] serde_json::Error),
    #[error("socket error")]
    Io(#[from] io::Error),
    #[error("{0} unexpected bytes after a frame")]
    Trailing(usize),
}

/// One decoded frame: the JSON header and the raw tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub header: &'a [u8],
    pub tail: &'a [u8],
}

/// Encodes one frame (length prefix included), for tests and fuzz seeds; [`send`] writes the
/// same bytes without building them in one buffer.
pub fn encode_frame(header: &[u8], tail: &[&[u8]]) -> Vec<u8> {
    let body = 4 + header.len() + tail.iter().map(|t| t.len()).sum::<usize>();
    let mut v = Vec::with_capacity(4 + body);
    v.extend_from_slice(&(body as u32).to_le_bytes());
    v.extend_from_slice(&(header.len() as u32).to_le_bytes());
    v.extend_from_slice(header);
    for t in tail {
        v.extend_from_slice(t);
    }
    v
}

/// Decodes exactly one frame from `buf` (length prefix included): a body of at most `cap`
/// bytes, nothing missing, nothing after it. Pure: the decoding half of [`recv`].
pub fn decode_frame(buf: &[u8], cap: usize) -> Result<Frame<'_>, WireError> {
    let Some((len, body)) = buf.split_first_chunk::<4>() else {
        return Err(WireError::Truncated {
            len: 4,
            got: buf.len(),
        });
    };
    let n = u32::from_le_bytes(*len) as usize;
    if n > cap {
        return Err(WireError::TooLarge { len: n, cap });
    }
    if body.len() < n {
        return Err(WireError::Truncated {
            len: n,
            got: body.len(),
        });
    }
    if body.len() > n {
        return Err(WireError::Trailing(body.len() - n));
    }
    let Some((hlen, rest)) = body.split_first_chunk::<4>() else {
        return Err(WireError::Malformed("body shorter than its header length"));
    };
    let h = u32::from_le_bytes(*hlen) as usize;
    if h > rest.len() {
        return Err(WireError::Malformed("header length beyond the body"));
    }
    let (header, tail) = rest.split_at(h);
    Ok(Frame { header, tail })
}

/// Decodes a frame that carries only a JSON message.
pub fn decode_message<T: DeserializeOwned>(frame: Frame<'_>) -> Result<T, WireError> {
    if !frame.tail.is_empty() {
        return Err(WireError::Trailing(frame.tail.len()));
    }
    serde_json::from_slice(frame.header).map_err(WireError::Decode)
}

/// Decodes a [`CaseReply`] frame: the header, then the output bytes from the tail.
pub fn decode_reply(frame: Frame<'_>) -> Result<CaseReply, WireError> {
    let tail = frame.tail;
    let (mut reply, out) = reply_without_output(frame)?;
    let (o, e) = tail.split_at(out);
    reply.facts.stdout.data = o.to_vec();
    reply.facts.stderr.data = e.to_vec();
    Ok(reply)
}

/// The reply a frame carries, with empty output data, and the length of stdout in the tail
/// (stderr is the rest), both checked.
fn reply_without_output(frame: Frame<'_>) -> Result<(CaseReply, usize), WireError> {
    if frame.header.len() > MAX_REPLY_HEADER_BYTES {
        return Err(WireError::TooLarge {
            len: frame.header.len(),
            cap: MAX_REPLY_HEADER_BYTES,
        });
    }
    let h: ReplyHeader = serde_json::from_slice(frame.header).map_err(WireError::Decode)?;
    let out = usize::try_from(h.stdout_len).unwrap_or(usize::MAX);
    let err = usize::try_from(h.stderr_len).unwrap_or(usize::MAX);
    if out.checked_add(err) != Some(frame.tail.len()) {
        return Err(WireError::Malformed("output lengths do not match the tail"));
    }
    let mut facts = h.facts;
    facts.stdout.data.clear();
    facts.stderr.data.clear();
    let reply = CaseReply {
        facts,
        failure: h.failure,
        health: h.health,
    };
    Ok((reply, out))
}

/// Sends one frame with descriptors.
pub fn send<T: Serialize>(sock: &UnixStream, msg: &T, fds: &[RawFd]) -> Result<(), WireError> {
    let header = serde_json::to_vec(msg).map_err(WireError::Decode)?;
    send_frame(sock, &header, &[], fds)
}

/// Sends a [`CaseReply`]: the facts as the JSON header, the output bytes raw as the tail.
pub fn send_reply(sock: &UnixStream, mut reply: CaseReply) -> Result<(), WireError> {
    let out = std::mem::take(&mut reply.facts.stdout.data);
    let err = std::mem::take(&mut reply.facts.stderr.data);
    let header = ReplyHeader {
        facts: reply.facts,
        failure: reply.failure,
        health: reply.health,
        stdout_len: out.len() as u64,
        stderr_len: err.len() as u64,
    };
    let header = serde_json::to_vec(&header).map_err(WireError::Decode)?;
    send_frame(sock, &header, &[&out, &err], &[])
}

fn send_frame(
    sock: &UnixStream,
    header: &[u8],
    tail: &[&[u8]],
    fds: &[RawFd],
) -> Result<(), WireError> {
    let body = 4 + header.len() + tail.iter().map(|t| t.len()).sum::<usize>();
    let len = u32::try_from(body)
        .map_err(|_| WireError::TooLarge {
            len: body,
            cap: u32::MAX as usize,
        })?
        .to_le_bytes();
    let hlen = (header.len() as u32).to_le_bytes();
    let mut parts: Vec<&[u8]> = vec![&len, &hlen, header];
    parts.extend_from_slice(tail);
    let total = 4 + body;
    let cmsg = [ControlMessage::ScmRights(fds)];
    let mut cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
    let mut sent = 0;
    // Descriptors go with the first chunk; the rest is written plainly.
    while sent < total {
        let iov = remaining(&parts, sent);
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) => {
                sent += n;
                cmsgs = &[];
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(WireError::Io(e.into())),
        }
    }
    Ok(())
}

/// The parts after the first `skip` bytes, as I/O slices.
fn remaining<'a>(parts: &[&'a [u8]], mut skip: usize) -> Vec<IoSlice<'a>> {
    let mut v = Vec::with_capacity(parts.len());
    for p in parts {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        v.push(IoSlice::new(&p[skip..]));
        skip = 0;
    }
    v
}

/// Bytes of a frame body read together with its length.
const INLINE_BYTES: usize = 8 << 10;

/// Receives the bytes of one frame (length prefix included) whose body is at most `cap`
/// bytes, and the descriptors that came with it. Checks only the cap; [`decode_frame`] does
/// the rest.
pub fn recv_frame(sock: &UnixStream, cap: usize) -> Result<(Vec<u8>, Vec<OwnedFd>), WireError> {
    // The length and, usually, the whole body come in one recvmsg: frames are small and the
    // protocol has one frame in flight per direction, so nothing of a next frame can follow.
    let mut head = [0u8; 4];
    let mut inline = [0u8; INLINE_BYTES];
    let mut got_head = 0;
    let mut got_inline = 0;
    let mut fds = Vec::new();
    while got_head < head.len() {
        let mut iov = [
            IoSliceMut::new(&mut head[got_head..]),
            IoSliceMut::new(&mut inline),
        ];
        let msg = hatchery_sys::recvmsg_fds(sock.as_fd(), &mut iov)
            .map_err(|e| WireError::Io(e.into()))?;
        fds.extend(msg.fds);
        if msg.ctrunc {
            return Err(WireError::TooManyFds { max: MAX_FDS });
        }
        if msg.bytes == 0 {
            return Err(WireError::Closed);
        }
        let for_head = msg.bytes.min(4 - got_head);
        got_head += for_head;
        got_inline = msg.bytes - for_head;
    }
    let n = u32::from_le_bytes(head) as usize;
    if n > cap {
        return Err(WireError::TooLarge { len: n, cap });
    }
    if got_inline > n {
        return Err(WireError::Trailing(got_inline - n));
    }
    let mut buf = Vec::with_capacity(4 + n);
    buf.extend_from_slice(&head);
    buf.extend_from_slice(&inline[..got_inline]);
    buf.resize(4 + n, 0);
    let mut s = sock;
    s.read_exact(&mut buf[4 + got_inline..]).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            WireError::Closed
        } else {
            WireError::Io(e)
        }
    })?;
    Ok((buf, fds))
}

/// Receives one JSON message of at most `cap` bytes and the descriptors that came with it.
pub fn recv<T: DeserializeOwned>(
    sock: &UnixStream,
    cap: usize,
) -> Result<(T, Vec<OwnedFd>), WireError> {
    let (buf, fds) = recv_frame(sock, cap)?;
    let v = decode_message(decode_frame(&buf, cap)?)?;
    Ok((v, fds))
}

/// Receives one [`CaseReply`] whose frame body is at most `cap` bytes (see [`reply_cap`]).
pub fn recv_reply(sock: &UnixStream, cap: usize) -> Result<CaseReply, WireError> {
    let (mut buf, _fds) = recv_frame(sock, cap)?;
    let frame = decode_frame(&buf, cap)?;
    let tail_at = buf.len() - frame.tail.len();
    let (mut reply, out) = reply_without_output(frame)?;
    // The output is moved out of the frame's buffer, not copied: stdout keeps the buffer
    // (shifted in place), only stderr gets one of its own.
    buf.drain(..tail_at);
    reply.facts.stderr.data = buf.split_off(out);
    reply.facts.stdout.data = buf;
    Ok(reply)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    #[test]
    fn byte_strings_travel_as_text_when_they_are_utf8_and_as_bytes_otherwise() {
        let req = CaseRequest {
            argv: vec![b"/bin/echo".to_vec(), vec![0xff, b'a', 0x80]],
            env: vec![b"PATH=/usr/bin".to_vec()],
            cwd: "/tmp/\u{e9}t\u{e9}".as_bytes().to_vec(),
            limits: Limits::default(),
            seccomp: SeccompProfile::Default,
            script: false,
            program: Vec::new(),
            has_stdin: false,
            has_cwd_fd: false,
            has_spill: false,
            has_live: false,
            capture_bytes: None,
            leak_wait_us: None,
            kill_grace_us: None,
        };
        let text = serde_json::to_string(&req).unwrap();
        assert!(
            text.contains(r#""argv":["/bin/echo",[255,97,128]]"#),
            "{text}"
        );
        assert!(text.contains(r#""env":["PATH=/usr/bin"]"#), "{text}");
        let back = decode_request(text.as_bytes()).unwrap();
        assert_eq!(back.argv, req.argv);
        assert_eq!(back.env, req.env);
        assert_eq!(back.cwd, req.cwd);
        // The older form (arrays of byte values everywhere) still decodes.
        let old = text.replace(r#""/bin/echo""#, "[47,98,105,110]");
        assert_eq!(decode_request(old.as_bytes()).unwrap().argv[0], b"/bin");
    }

    #[test]
    fn round_trip_with_descriptors() {
        let (a, b) = pair();
        let f1 = std::fs::File::open("/dev/null").unwrap();
        let f2 = std::fs::File::open("/proc/self/status").unwrap();
        let msg = Hello::Failed {
            error: "x".repeat(20_000), // longer than what comes with the first recvmsg
        };
        send(&a, &msg, &[f1.as_raw_fd(), f2.as_raw_fd()]).unwrap();
        let (back, fds) = recv::<Hello>(&b, 1 << 20).unwrap();
        match back {
            Hello::Failed { error } => assert_eq!(error.len(), 20_000),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(fds.len(), 2);
        // The descriptors are new ones, close-on-exec.
        for fd in &fds {
            let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFD).unwrap();
            assert_ne!(flags & libc::FD_CLOEXEC, 0);
        }
    }

    #[test]
    fn oversize_frame_is_refused() {
        let (a, b) = pair();
        send(
            &a,
            &Hello::Failed {
                error: "y".repeat(5000),
            },
            &[],
        )
        .unwrap();
        match recv::<Hello>(&b, 1000) {
            Err(WireError::TooLarge { len, cap: 1000 }) => assert!(len > 5000),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn truncated_frame_is_closed_not_garbage() {
        let (mut a, b) = pair();
        let frame = encode_frame(br#""Unshared""#, &[]);
        a.write_all(&frame[..frame.len() - 3]).unwrap();
        drop(a);
        assert!(matches!(recv::<Hello>(&b, 1 << 10), Err(WireError::Closed)));
        assert!(matches!(
            decode_frame(&frame[..frame.len() - 3], 1 << 10),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            decode_frame(&frame[..2], 1 << 10),
            Err(WireError::Truncated { len: 4, got: 2 })
        ));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let (mut a, b) = pair();
        let mut frame = encode_frame(br#""Unshared""#, &[]);
        frame.extend_from_slice(b"more");
        a.write_all(&frame).unwrap();
        assert!(matches!(
            recv::<Hello>(&b, 1 << 10),
            Err(WireError::Trailing(4))
        ));
        assert!(matches!(
            decode_frame(&frame, 1 << 10),
            Err(WireError::Trailing(4))
        ));
        // A tail after a message that has none.
        let frame = encode_frame(br#""Unshared""#, &[b"zz"]);
        let f = decode_frame(&frame, 1 << 10).unwrap();
        assert!(matches!(
            decode_message::<Hello>(f),
            Err(WireError::Trailing(2))
        ));
    }

    #[test]
    fn header_length_beyond_the_body_is_malformed() {
        let mut frame = encode_frame(b"{}", &[]);
        frame[4..8].copy_from_slice(&100u32.to_le_bytes());
        assert!(matches!(
            decode_frame(&frame, 1 << 10),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn a_reply_of_control_bytes_fits_the_cap_of_its_output_limit() {
        let limit: u64 = 1 << 20;
        let mut reply = CaseReply::default();
        reply.facts.stdout.data = vec![1u8; limit as usize];
        reply.facts.stdout.bytes = limit;
        reply.facts.stderr.data = Vec::new();
        reply.failure = None;
        reply.health = Health::Retire {
            reason: "x".repeat(MAX_DETAIL_BYTES),
        };
        let expect = reply.clone();
        let (a, b) = pair();
        let sender = std::thread::spawn(move || send_reply(&a, reply).unwrap());
        let got = recv_reply(&b, reply_cap(limit)).unwrap();
        sender.join().unwrap();
        assert_eq!(got, expect);
        // And the bound is tight: output plus a constant, not a multiple of the output.
        assert!(reply_cap(limit) < limit as usize + (128 << 10));
    }

    #[test]
    fn reply_output_lengths_must_match_the_tail() {
        let header = serde_json::to_vec(&ReplyHeader {
            facts: RawFacts::default(),
            failure: None,
            health: Health::Clean,
            stdout_len: 3,
            stderr_len: 0,
        })
        .unwrap();
        let ok = encode_frame(&header, &[b"abc"]);
        assert_eq!(
            decode_frame(&ok, 1 << 20)
                .and_then(decode_reply)
                .unwrap()
                .facts
                .stdout
                .data,
            b"abc"
        );
        let header = &header[..];
        let frame = encode_frame(header, &[b"ab"]);
        let r = decode_frame(&frame, 1 << 20).and_then(decode_reply);
        assert!(matches!(r, Err(WireError::Malformed(_))), "{r:?}");
    }
}
