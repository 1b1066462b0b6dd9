//! Runs on many machines through Redis: the protocol between `hatchery serve --redis` and
//! `hatchery worker` (see [`crate::worker`]), and the server's side of it.
//!
//! Keys (`P` is the prefix, `hatchery` by default):
//! - `P:runs`: the Stream of runs. Each entry has the fields `id` (a run id: 128 random
//!   bits in hex), `reply` (the server's reply list), `deadline` (Unix ms after which nobody
//!   waits for it) and `body` (the `/run` request as the client sent it). Workers read it
//!   through the consumer group [`GROUP`].
//! - `P:result:<run id>`: the result, written once (`SET NX`, with a time to live) by the
//!   worker that finished the run first. A second run of the same entry (after a claim)
//!   finds the key set and its result is dropped (counted in `P:duplicates`).
//! - `P:reply:<server id>`: the list on which a server is told, by run id, that a result is
//!   stored. One blocking `BLPOP` per server waits on it and wakes the request waiting for
//!   that run.
//!
//! Why a list and not pub/sub or polling: a list keeps a notification until it is read, so
//! a result stored while the server is reconnecting is not lost (pub/sub drops messages
//! nobody is subscribed to at that instant), and `BLPOP` wakes at once without the latency
//! and load of polling. One list per server and one blocking connection serve every request
//! in flight.
//!
//! Storing the result, notifying and acknowledging happen in one Lua script
//! ([`STORE_SCRIPT`]), so the entry is acknowledged only once its result is stored, and
//! never without it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use redis::aio::ConnectionManager;
use redis::AsyncCommands as _;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::api::Request;
use crate::exec::{self, BadRequest, Caps};

/// The consumer group every worker reads the stream through.
pub const GROUP: &str = "workers";

/// The key names under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    pub prefix: String,
}

impl Keys {
    pub fn stream(&self) -> String {
        format!("{}:runs", self.prefix)
    }
    pub fn result(&self, run: &str) -> String {
        format!("{}:result:{run}", self.prefix)
    }
    pub fn reply(&self, server: &str) -> String {
        format!("{}:reply:{server}", self.prefix)
    }
    pub fn duplicates(&self) -> String {
        format!("{}:duplicates", self.prefix)
    }
}

/// What a worker stores under `P:result:<run id>`: the HTTP status and body `/run` answers
/// with, and which worker ran it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stored {
    pub code: u16,
    pub worker: String,
    pub body: serde_json::Value,
}

/// Stores a result once, tells the waiting server, acknowledges and deletes the entry.
///
/// KEYS: result, reply list, stream, duplicates counter.
/// ARGV: result, time to live (s), run id, group, entry id.
/// Returns 1 when this call stored the result, 0 when one was already there (then nothing
/// is notified; the entry is acknowledged all the same).
pub const STORE_SCRIPT: &str = r"
local stored = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])
if stored then
  redis.call('RPUSH', KEYS[2], ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
else
  redis.call('INCR', KEYS[4])
end
redis.call('XACK', KEYS[3], ARGV[4], ARGV[5])
redis.call('XDEL', KEYS[3], ARGV[5])
if stored then return 1 else return 0 end
";

/// Resets the idle time of the entries a worker still owns (its heartbeat), leaving alone
/// any another worker has claimed meanwhile.
///
/// KEYS: stream. ARGV: group, consumer, entry ids. Returns how many were refreshed.
pub const HEARTBEAT_SCRIPT: &str = r"
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n
";

/// Creates the stream and the group if they are not there yet.
pub async fn ensure_group(conn: &mut ConnectionManager, keys: &Keys) -> redis::RedisResult<()> {
    let made: redis::RedisResult<()> = conn.xgroup_create_mkstream(keys.stream(), GROUP, "0").await;
    match made {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        r => r,
    }
}

/// A connection that reconnects by itself, after checking the server answers.
pub async fn connect(url: &str) -> Result<ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
    let mut conn = ConnectionManager::new(client)
        .await
        .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
    let _: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .map_err(|e| format!("Redis at {url} does not answer PING: {e}"))?;
    Ok(conn)
}

/// 128 random bits in hex.
pub fn random_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// The server's side: puts runs on the stream and waits for their results.
pub struct Queue {
    conn: ConnectionManager,
    keys: Keys,
    reply: String,
    wait: Duration,
    waiting: Waiting,
}

/// Why a queued run has no result.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no worker stored a result within {0:?} (is any `hatchery worker` running?)")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the stored result is not readable: {0}")]
    Corrupt(String),
}

impl Queue {
    /// Connects (twice: one connection blocks on the reply list), creates the group, and
    /// starts the task that wakes waiting requests. Needs a Tokio runtime.
    pub async fn start(url: &str, prefix: &str, wait: Duration) -> Result<Arc<Queue>, String> {
        let keys = Keys {
            prefix: prefix.to_owned(),
        };
        let mut conn = connect(url).await?;
        ensure_group(&mut conn, &keys)
            .await
            .map_err(|e| format!("cannot create the consumer group on {url}: {e}"))?;
        let blocking = connect(url).await?;
        let reply = keys.reply(&random_id());
        let q = Arc::new(Queue {
            conn,
            keys,
            reply,
            wait,
            waiting: Arc::default(),
        });
        tokio::spawn(wake(
            blocking,
            q.keys.clone(),
            q.reply.clone(),
            q.waiting.clone(),
        ));
        Ok(q)
    }

    /// The consumer group's state for `/metrics` (`None`, said on stderr, when Redis does
    /// not answer).
    pub async fn depth(&self) -> Option<crate::metrics::RedisQueue> {
        let got: redis::RedisResult<redis::streams::StreamInfoGroupsReply> =
            self.conn.clone().xinfo_groups(self.keys.stream()).await;
        let groups = match got {
            Ok(g) => g,
            Err(e) => {
                eprintln!("hatchery serve: Redis: XINFO GROUPS for /metrics: {e}");
                return None;
            }
        };
        let g = groups.groups.into_iter().find(|g| g.name == GROUP)?;
        let waiting = match g.lag {
            Some(l) => l as u64,
            // Redis before 7 has no lag: what the stream holds beyond what is taken (taken
            // entries stay on the stream until answered).
            None => {
                let len: u64 = self.conn.clone().xlen(self.keys.stream()).await.ok()?;
                len.saturating_sub(g.pending as u64)
            }
        };
        Some(crate::metrics::RedisQueue {
            waiting,
            taken: g.pending as u64,
            consumers: g.consumers as u64,
        })
    }

    /// Puts one run on the stream and waits for its stored result.
    pub async fn run(&self, body: &[u8]) -> Result<Stored, QueueError> {
        let id = random_id();
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id.clone(), tx);
        let deadline = unix_ms(SystemTime::now() + self.wait);
        let added: redis::RedisResult<String> = self
            .conn
            .clone()
            .xadd(
                self.keys.stream(),
                "*",
                &[
                    ("id", id.as_bytes()),
                    ("reply", self.reply.as_bytes()),
                    ("deadline", deadline.to_string().as_bytes()),
                    ("body", body),
                ],
            )
            .await;
        let entry = match added {
            Ok(e) => e,
            Err(e) => {
                self.lock().remove(&id);
                return Err(e.into());
            }
        };
        match tokio::time::timeout(self.wait, rx).await {
            Ok(Ok(data)) => {
                serde_json::from_slice(&data).map_err(|e| QueueError::Corrupt(e.to_string()))
            }
            _ => {
                self.lock().remove(&id);
                // Not run yet: nobody will need it (a worker that has it skips it too, as
                // its deadline has passed).
                let _: redis::RedisResult<u64> =
                    self.conn.clone().xdel(self.keys.stream(), &[&entry]).await;
                Err(QueueError::Timeout(self.wait))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Vec<u8>>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Waits on the server's reply list; for each run id there, reads the result and hands it
/// to the request waiting for it (if it still waits).
async fn wake(mut conn: ConnectionManager, keys: Keys, reply: String, waiting: Waiting) {
    loop {
        let got: redis::RedisResult<Option<(String, String)>> = conn.blpop(&reply, 1.0).await;
        let run = match got {
            Ok(Some((_, run))) => run,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("hatchery serve: Redis: waiting for results: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let data: redis::RedisResult<Option<Vec<u8>>> = conn.get(keys.result(&run)).await;
        let tx = waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&run);
        match (data, tx) {
            (Ok(Some(d)), Some(tx)) => {
                let _ = tx.send(d);
            }
            (Err(e), _) => eprintln!("hatchery serve: Redis: reading the result of {run}: {e}"),
            _ => {}
        }
    }
}

/// Refuses what names the server's file store: a worker on another machine has its own
/// store, so `fileId`, `src` and `copyOutCached` cannot mean the same file there.
pub fn refuse_store_refs(req: &Request) -> Result<(), BadRequest> {
    for (i, c) in req.cmd.iter().enumerate() {
        let files = c.files.iter().flatten().chain(c.copy_in.values());
        for f in files {
            if f.file_id.is_some() || f.src.is_some() {
                return Err(BadRequest(format!(
                    "cmd[{i}]: `fileId` and `src` are not available when the server runs cases \
                     through Redis workers (their file stores are their own): send the file \
                     as `content`"
                )));
            }
        }
        if !c.copy_out_cached.is_empty() {
            return Err(BadRequest(format!(
                "cmd[{i}]: `copyOutCached` is not available when the server runs cases through \
                 Redis workers: use `copyOut` and send the file back as `content`"
            )));
        }
    }
    Ok(())
}

/// `POST /run` when the server has `--redis`: checks the request as a local run would, puts
/// it on the stream and answers with what the worker stored.
pub async fn run_http(q: &Queue, caps: &Caps, body: Bytes) -> Response {
    let err = |code: StatusCode, m: String| (code, Json(m)).into_response();
    let req: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return err(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    if let Err(BadRequest(m)) = exec::validate(&req, caps).and_then(|()| refuse_store_refs(&req)) {
        return err(StatusCode::BAD_REQUEST, m);
    }
    match q.run(&body).await {
        Ok(s) => {
            let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = (code, Json(s.body)).into_response();
            if let Ok(w) = HeaderValue::from_str(&s.worker) {
                r.headers_mut().insert("x-hatchery-worker", w);
            }
            r
        }
        Err(e @ QueueError::Timeout(_)) => err(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        Err(e) => {
            let mut r = err(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}
