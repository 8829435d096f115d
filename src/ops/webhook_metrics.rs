//! The webhook dispatcher's metrics: attempts by endpoint and outcome, how long messages took
//! from their commit to delivery, the backlog and its oldest message, disabled endpoints.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    endpoint: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

pub struct WebhookMetrics {
    attempts: Family<AttemptLabels, Counter>,
    delivered_after: Histogram,
    pending: Gauge,
    oldest_undelivered_seconds: Gauge<f64, AtomicU64>,
    disabled: Family<EndpointLabels, Gauge>,
}

impl WebhookMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by endpoint and outcome (delivered, failed, gone, refused)",
            attempts.clone(),
        );
        // 5 ms to about 11 hours: a healthy receiver takes milliseconds, a retried one hours.
        let delivered_after = Histogram::new(exponential_buckets(0.005, 3.0, 16));
        registry.register_with_unit(
            "webhook_delivery_latency",
            "Time from a message's commit to its delivery",
            Unit::Seconds,
            delivered_after.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "webhook_pending_deliveries",
            "Webhook deliveries not yet delivered or failed",
            pending.clone(),
        );
        let oldest_undelivered_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "webhook_oldest_undelivered_age",
            "Age of the oldest webhook message not yet delivered everywhere (0 when none)",
            Unit::Seconds,
            oldest_undelivered_seconds.clone(),
        );
        let disabled = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "webhook_endpoint_disabled",
            "1 while an endpoint is disabled (it answered 410 Gone)",
            disabled.clone(),
        );
        Self {
            attempts,
            delivered_after,
            pending,
            oldest_undelivered_seconds,
            disabled,
        }
    }

    pub fn attempt(&self, endpoint: &str, outcome: &'static str) {
        self.attempts
            .get_or_create(&AttemptLabels {
                endpoint: endpoint.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn delivered(&self, since_commit: std::time::Duration) {
        self.delivered_after.observe(since_commit.as_secs_f64());
    }

    pub fn set_backlog(&self, pending: i64, oldest: Option<std::time::Duration>) {
        self.pending.set(pending);
        self.oldest_undelivered_seconds
            .set(oldest.map_or(0.0, |d| d.as_secs_f64()));
    }

    pub fn set_disabled(&self, endpoint: &str, disabled: bool) {
        self.disabled
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .set(i64::from(disabled));
    }
}
