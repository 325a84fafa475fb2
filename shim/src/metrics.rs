//! The shim's counters, served at `GET /metrics` in Prometheus text format. Events rejected at
//! receipt (bad input, answered 4xx), refused by the database (dead-lettered) and delivered are
//! counted apart; nothing is dropped, so there is no dropped counter.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub struct Metrics {
    registry: Registry,
    pub received: Counter,
    pub rejected: Counter,
    pub spooled: Counter,
    pub delivered: Counter,
    pub duplicates: Counter,
    pub retried: Counter,
    pub dead_lettered: Counter,
    pub refused_requests: Counter,
    pub not_audit: Counter,
    pub queue_depth: Gauge,
    pub batch_size: Histogram,
    pub batch_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("auditlog_shim");
        let m = Metrics {
            received: Counter::default(),
            rejected: Counter::default(),
            spooled: Counter::default(),
            delivered: Counter::default(),
            duplicates: Counter::default(),
            retried: Counter::default(),
            dead_lettered: Counter::default(),
            refused_requests: Counter::default(),
            not_audit: Counter::default(),
            queue_depth: Gauge::default(),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            registry: Registry::default(),
        };
        let counters = [
            (
                "events_received",
                "Well-formed events received from clients",
                &m.received,
            ),
            (
                "events_rejected",
                "Lines rejected at receipt as malformed (answered 4xx; OTLP records: in a partial success, kept in the dead-letter file)",
                &m.rejected,
            ),
            (
                "events_spooled",
                "Events written and fsynced to the spool before their acknowledgement",
                &m.spooled,
            ),
            (
                "events_delivered",
                "Events committed to PostgreSQL",
                &m.delivered,
            ),
            (
                "events_duplicate",
                "Events PostgreSQL already held (a retried delivery), not written again",
                &m.duplicates,
            ),
            (
                "events_retried",
                "Event deliveries retried after a database failure",
                &m.retried,
            ),
            (
                "events_dead_lettered",
                "Events PostgreSQL refused, written to the dead-letter file",
                &m.dead_lettered,
            ),
            (
                "requests_refused_full",
                "Requests answered 503 because the spool was full",
                &m.refused_requests,
            ),
            (
                "otlp_records_not_audit",
                "OTLP log records without audit.event_type: an application's other logs, not logged",
                &m.not_audit,
            ),
        ];
        for (name, help, c) in counters {
            registry.register(name, help, c.clone());
        }
        registry.register(
            "queue_depth",
            "Events acknowledged and not yet committed to PostgreSQL",
            m.queue_depth.clone(),
        );
        registry.register(
            "batch_size",
            "Events per batch sent to PostgreSQL",
            m.batch_size.clone(),
        );
        registry.register(
            "batch_duration_seconds",
            "Time to commit one batch, retries included",
            m.batch_seconds.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}
