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

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}
