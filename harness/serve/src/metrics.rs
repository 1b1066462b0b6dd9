//! `/metrics`: Prometheus text exposition (prometheus-client): cases run by outcome and
//! status, commands waiting for a worker, commands running, latency of a command from its
//! arrival to its result, HTTP requests by endpoint and code, and the file store's size.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CaseLabels {
    /// hatchery's outcome (`ok`, `time_limit`, ...; `not_run` for a file error before the
    /// case started).
    pub outcome: String,
    /// go-judge's status.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub endpoint: String,
    pub code: u16,
}

pub struct Metrics {
    registry: Registry,
    pub cases: Family<CaseLabels, Counter>,
    pub http: Family<HttpLabels, Counter>,
    pub queue_depth: Gauge,
    pub running: Gauge,
    pub latency: Histogram,
    pub store_files: Gauge,
    pub store_bytes: Gauge,
    pub store_evicted: Gauge,
}

impl Metrics {
    pub fn new(workers: usize) -> Metrics {
        let mut registry = Registry::with_prefix("hatchery_serve");
        let cases = Family::<CaseLabels, Counter>::default();
        registry.register(
            "cases",
            "Commands finished, by hatchery outcome and go-judge status",
            cases.clone(),
        );
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by endpoint and status code",
            http.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Commands waiting for a free worker",
            queue_depth.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "running",
            "Commands being prepared, run or copied out on a worker",
            running.clone(),
        );
        let workers_g: Gauge = Gauge::default();
        workers_g.set(workers as i64);
        registry.register("workers", "Workers (each with its zygotes)", workers_g);
        // 100 µs .. ~3.3 min.
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 22));
        registry.register(
            "case_latency_seconds",
            "Time from a command's arrival to its result (queueing, copy-in, run, copy-out)",
            latency.clone(),
        );
        let store_files: Gauge = Gauge::default();
        registry.register("store_files", "Files in the store", store_files.clone());
        let store_bytes: Gauge = Gauge::default();
        registry.register("store_bytes", "Bytes in the store", store_bytes.clone());
        let store_evicted: Gauge = Gauge::default();
        registry.register(
            "store_evicted_files",
            "Files evicted from the store to stay within its quota (since start)",
            store_evicted.clone(),
        );
        Metrics {
            registry,
            cases,
            http,
            queue_depth,
            running,
            latency,
            store_files,
            store_bytes,
            store_evicted,
        }
    }

    /// The text exposition; with the Redis queue's state when the server queues its runs
    /// there (`None` when Redis did not answer: those lines are left out).
    pub fn render(&self, redis: Option<&RedisQueue>) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut s, &self.registry);
        if let Some(q) = redis {
            let _ = encode_registry(&mut s, &q.registry());
        }
        let _ = encode_eof(&mut s);
        s
    }
}

/// The consumer group's state, read from Redis (`XINFO GROUPS`) when `/metrics` is asked.
#[derive(Debug, Clone, Copy)]
pub struct RedisQueue {
    /// Runs on the stream that no worker has taken yet.
    pub waiting: u64,
    /// Runs a worker took and has not answered yet (running, or held by a stopped worker
    /// until they are taken over).
    pub taken: u64,
    /// Consumers the group knows (workers seen since their names were last removed).
    pub consumers: u64,
}

impl RedisQueue {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("hatchery_serve_redis");
        let mut gauge = |name: &str, help: &str, v: u64| {
            let g: Gauge = Gauge::default();
            g.set(i64::try_from(v).unwrap_or(i64::MAX));
            r.register(name, help, g);
        };
        gauge(
            "runs_waiting",
            "Runs on the Redis stream that no worker has taken yet",
            self.waiting,
        );
        gauge(
            "runs_taken",
            "Runs a worker took and has not answered yet",
            self.taken,
        );
        gauge(
            "consumers",
            "Workers the consumer group knows",
            self.consumers,
        );
        r
    }
}
