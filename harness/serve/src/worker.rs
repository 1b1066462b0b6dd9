//! `hatchery worker --redis URL`: runs the `/run` requests a `hatchery serve --redis` puts
//! on the Redis stream, on this machine's engine, through the same
//! [`crate::exec::Runner::run`] a local `/run` uses. Any number of workers on any number of
//! machines share the stream through one consumer group (protocol: [`crate::queue`]).
//!
//! Liveness: a worker holds at most `2 × -j` entries. Every `--claim-after / 4` it resets
//! the idle time of the entries it still owns ([`queue::HEARTBEAT_SCRIPT`]); every
//! `--claim-after / 2` it takes, with `XAUTOCLAIM`, entries idle for longer than
//! `--claim-after`, which only a worker that stopped (killed, machine lost, cut off from
//! Redis) leaves. Those are run again; the first result stored wins (`SET NX`) and a late
//! duplicate is dropped, so each run has exactly one result. `--claim-after` must exceed
//! the longest pause a live worker can have between heartbeats (not the case length: the
//! heartbeat runs while cases do).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use hatchery_engine::parse;
use hatchery_report::exit;
use redis::aio::ConnectionManager;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands as _, FromRedisValue as _, Script};
use tokio::sync::Semaphore;

use crate::exec::{BadRequest, Runner};
use crate::queue::{self, Keys, Stored, GROUP};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  the worker stopped on SIGTERM or SIGINT (after finishing the runs it held)
  2  bad command line, or Redis cannot be reached or used at start
  6  this host cannot provide the tier (the message names the missing feature)
  7  the store directory cannot be set up";

/// `hatchery worker` options.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    /// Redis to read runs from: redis://[:PASSWORD@]HOST[:PORT][/DB] or
    /// redis+unix:///PATH.
    #[arg(
        long,
        value_name = "URL",
        env = "HATCHERY_REDIS",
        hide_env_values = true
    )]
    pub redis: String,
    /// Consumer name in the group (unique per worker; default: HOSTNAME-PID).
    #[arg(long)]
    pub name: Option<String>,
    /// Prefix of every Redis key (the same as the server's --redis-prefix).
    #[arg(long, default_value = "hatchery")]
    pub redis_prefix: String,
    /// Runs held by a stopped worker are taken over once idle this long.
    #[arg(long, value_parser = parse::duration, default_value = "10s")]
    pub claim_after: Duration,
    /// How many times a run may be started: a run whose workers all stopped while running
    /// it (it may be what stops them) is answered with an error once it was taken over this
    /// many times, instead of being run again.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_deliveries: u64,
    /// How long a result stays in Redis (the server reads it as soon as it is stored).
    #[arg(long, value_parser = parse::duration, default_value = "1h")]
    pub result_ttl: Duration,
    /// Working directories of the cases (emptied at start and exit; default: a fresh
    /// directory in the current directory). Outside /tmp, reachable by the case uid.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub engine: crate::EngineArgs,
    /// Largest file copied in or out, or written by a case.
    #[arg(long, value_parser = parse::size_bytes, default_value = "64M")]
    pub max_file: u64,
}

fn fail(code: u8, msg: impl std::fmt::Display) -> u8 {
    eprintln!("hatchery worker: {msg}");
    code
}

/// Runs the worker until SIGTERM or SIGINT; returns the process exit code.
pub fn run(a: WorkerArgs, zygote_exe: PathBuf) -> u8 {
    let caps = match a.engine.caps(a.max_file) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    if a.claim_after < Duration::from_millis(400) {
        return fail(exit::USAGE, "--claim-after: at least 400ms");
    }
    let dirs = match crate::Dirs::create(a.store.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(exit::BAD_INPUT, e),
    };
    let jobs = a.engine.workers();
    let opts = crate::EngineOpts {
        cgroup: a.engine.cgroup,
        // fileIds are refused in this mode: the store only holds what cases copy out.
        store_quota: a.max_file.max(64 << 20),
        max_file: a.max_file,
        workers: jobs,
        pin: !a.engine.no_pin,
        caps,
        tier: a.engine.tier,
    };
    let code = match crate::start_engine(opts, &dirs, zygote_exe) {
        Ok(runner) => serve_stream(&a, runner, jobs),
        Err((code, msg)) => fail(code, msg),
    };
    dirs.remove();
    code
}

fn serve_stream(a: &WorkerArgs, runner: Runner, jobs: usize) -> u8 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                exit::SANDBOX_ERROR,
                format!("cannot start the runtime: {e}"),
            )
        }
    };
    let runner = Arc::new(runner);
    let code = rt.block_on(async {
        if let Err((code, msg)) = crate::probe(&runner).await {
            return fail(code, msg);
        }
        let keys = Keys {
            prefix: a.redis_prefix.clone(),
        };
        let name = a.name.clone().unwrap_or_else(default_name);
        let (mut conn, reader) = match (
            queue::connect(&a.redis).await,
            queue::connect(&a.redis).await,
        ) {
            (Ok(c), Ok(r)) => (c, r),
            (Err(e), _) | (_, Err(e)) => return fail(exit::USAGE, e),
        };
        if let Err(e) = queue::ensure_group(&mut conn, &keys).await {
            return fail(
                exit::USAGE,
                format!("cannot create the consumer group: {e}"),
            );
        }
        let w = Arc::new(Worker {
            runner: runner.clone(),
            conn,
            keys,
            name,
            ttl: a.result_ttl.as_secs().max(1),
            max_deliveries: a.max_deliveries,
            held: Mutex::default(),
            slots: Arc::new(Semaphore::new(jobs * 2)),
            store: Script::new(queue::STORE_SCRIPT),
        });
        eprintln!(
            "hatchery worker: {} reading {} with {jobs} job(s)",
            w.name,
            w.keys.stream()
        );
        let heartbeat = tokio::spawn(w.clone().heartbeat(a.claim_after / 4));
        tokio::select! {
            () = w.clone().read(reader, a.claim_after, jobs * 2) => {}
            () = crate::stop_signal() => {}
        }
        heartbeat.abort();
        // What was taken is finished and stored before leaving.
        let _ = w.slots.acquire_many(jobs as u32 * 2).await;
        exit::OK
    });
    runner.shutdown();
    eprintln!("hatchery worker: stopped");
    code
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}

struct Worker {
    runner: Arc<Runner>,
    conn: ConnectionManager,
    keys: Keys,
    name: String,
    ttl: u64,
    max_deliveries: u64,
    /// Entry ids taken and not yet acknowledged.
    held: Mutex<HashSet<String>>,
    slots: Arc<Semaphore>,
    store: Script,
}

impl Worker {
    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads new entries (and, every `claim_after / 2`, abandoned ones) while there are
    /// free slots, and starts each on its own task.
    async fn read(self: Arc<Self>, mut conn: ConnectionManager, claim_after: Duration, max: usize) {
        let stream = self.keys.stream();
        let mut last_claim = Instant::now();
        loop {
            // Wait for a free slot; the permit goes back at once, the entries take theirs.
            match self.slots.acquire().await {
                Ok(p) => drop(p),
                Err(_) => return,
            }
            let free = self.slots.available_permits().clamp(1, max);
            let entries = if last_claim.elapsed() >= claim_after / 2 {
                last_claim = Instant::now();
                let opts = StreamAutoClaimOptions::default().count(free);
                let got: redis::RedisResult<StreamAutoClaimReply> = conn
                    .xautoclaim_options(
                        &stream,
                        GROUP,
                        &self.name,
                        claim_after.as_millis() as u64,
                        "0-0",
                        opts,
                    )
                    .await;
                match got {
                    Ok(r) => {
                        if !r.deleted_ids.is_empty() {
                            let _: redis::RedisResult<u64> =
                                conn.xack(&stream, GROUP, &r.deleted_ids).await;
                        }
                        if !r.claimed.is_empty() {
                            eprintln!(
                                "hatchery worker: {}: took over {} run(s) left by a stopped worker",
                                self.name,
                                r.claimed.len()
                            );
                        }
                        let times = self.deliveries(&mut conn, r.claimed.len()).await;
                        Ok(r.claimed
                            .into_iter()
                            .map(|e| {
                                let n = times.get(&e.id).copied().unwrap_or(1);
                                (e, n)
                            })
                            .collect())
                    }
                    Err(e) => Err(e),
                }
            } else {
                let opts = StreamReadOptions::default()
                    .group(GROUP, &self.name)
                    .count(free)
                    .block((claim_after / 2).as_millis().min(1000) as usize);
                let got: redis::RedisResult<Option<StreamReadReply>> =
                    conn.xread_options(&[&stream], &[">"], &opts).await;
                got.map(|r| {
                    r.map(|r| {
                        r.keys
                            .into_iter()
                            .flat_map(|k| k.ids)
                            .map(|e| (e, 1))
                            .collect()
                    })
                    .unwrap_or_default()
                })
            };
            let entries: Vec<(StreamId, u64)> = match entries {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("hatchery worker: Redis: reading {stream}: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            for (entry, delivered) in entries {
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    return;
                };
                self.held().insert(entry.id.clone());
                let w = self.clone();
                tokio::spawn(async move {
                    w.handle(entry, delivered).await;
                    drop(permit);
                });
            }
        }
    }

    /// How many times each entry this worker holds was delivered (Redis counts the first
    /// read and every takeover), for up to `n` entries.
    async fn deliveries(&self, conn: &mut ConnectionManager, n: usize) -> HashMap<String, u64> {
        let got: redis::RedisResult<redis::streams::StreamPendingCountReply> = conn
            .xpending_consumer_count(
                self.keys.stream(),
                GROUP,
                "-",
                "+",
                n.max(1) * 4,
                &self.name,
            )
            .await;
        match got {
            Ok(r) => r
                .ids
                .into_iter()
                .map(|p| (p.id, p.times_delivered as u64))
                .collect(),
            Err(e) => {
                eprintln!("hatchery worker: Redis: reading the delivery counts: {e}");
                HashMap::new()
            }
        }
    }

    /// Runs one entry and stores its result (retrying until Redis takes it: the entry stays
    /// pending, so another worker would take it over if this one stopped meanwhile).
    async fn handle(&self, entry: StreamId, delivered: u64) {
        let field = |k: &str| -> Option<Vec<u8>> {
            entry
                .map
                .get(k)
                .and_then(|v| Vec::<u8>::from_redis_value(v).ok())
        };
        let run = field("id").and_then(|v| String::from_utf8(v).ok());
        let reply = field("reply").and_then(|v| String::from_utf8(v).ok());
        let deadline = field("deadline")
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok());
        let (Some(run), Some(reply), Some(body)) = (run, reply, field("body")) else {
            eprintln!("hatchery worker: entry {} is not a run; dropped", entry.id);
            return self.drop_entry(&entry.id).await;
        };
        if deadline.is_some_and(|d| d < queue::unix_ms(SystemTime::now())) {
            // Nobody waits for it any more.
            return self.drop_entry(&entry.id).await;
        }
        let stored = match serde_json::from_slice::<crate::api::Request>(&body) {
            _ if delivered > self.max_deliveries => {
                let started = delivered - 1;
                let msg = format!(
                    "run {run} was started {started} time{} and each worker running it \
                     stopped before it finished (it may be what stops them); not run again \
                     (--max-deliveries {})",
                    if started == 1 { "" } else { "s" },
                    self.max_deliveries
                );
                eprintln!("hatchery worker: {}: {msg}", self.name);
                (500, serde_json::json!(msg))
            }
            Err(e) => (400, serde_json::json!(format!("invalid request: {e}"))),
            Ok(req) => match queue::refuse_store_refs(&req) {
                Err(BadRequest(m)) => (400, serde_json::json!(m)),
                Ok(()) => match self.runner.run(req).await {
                    Ok(results) => (200, serde_json::to_value(results).unwrap_or_default()),
                    Err(BadRequest(m)) => (400, serde_json::json!(m)),
                },
            },
        };
        let value = serde_json::to_vec(&Stored {
            code: stored.0,
            worker: self.name.clone(),
            body: stored.1,
        })
        .unwrap_or_default();
        let mut delay = Duration::from_millis(50);
        loop {
            let r: redis::RedisResult<i64> = self
                .store
                .key(self.keys.result(&run))
                .key(&reply)
                .key(self.keys.stream())
                .key(self.keys.duplicates())
                .arg(&value)
                .arg(self.ttl)
                .arg(&run)
                .arg(GROUP)
                .arg(&entry.id)
                .invoke_async(&mut self.conn.clone())
                .await;
            match r {
                Ok(0) => {
                    eprintln!(
                        "hatchery worker: {}: run {run} already had a result; this one is dropped",
                        self.name
                    )
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("hatchery worker: Redis: storing the result of {run}: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
            break;
        }
        self.held().remove(&entry.id);
    }

    async fn drop_entry(&self, id: &str) {
        let mut c = self.conn.clone();
        let stream = self.keys.stream();
        let _: redis::RedisResult<()> = redis::pipe()
            .xack(&stream, GROUP, &[id])
            .xdel(&stream, &[id])
            .query_async(&mut c)
            .await;
        self.held().remove(id);
    }

    /// Keeps the entries this worker holds from looking abandoned.
    async fn heartbeat(self: Arc<Self>, every: Duration) {
        let script = Script::new(queue::HEARTBEAT_SCRIPT);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let ids: Vec<String> = self.held().iter().cloned().collect();
            if ids.is_empty() {
                continue;
            }
            let mut inv = script.key(self.keys.stream());
            inv.arg(GROUP).arg(&self.name);
            for id in &ids {
                inv.arg(id);
            }
            let r: redis::RedisResult<i64> = inv.invoke_async(&mut self.conn.clone()).await;
            if let Err(e) = r {
                eprintln!("hatchery worker: Redis: heartbeat: {e}");
            }
        }
    }
}
