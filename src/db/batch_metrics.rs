//! What the database's writers tell `/metrics` about their group commits: how many writes each
//! carried, and how long each took from its first write until it was durable. The histograms
//! live here, where the backends commit; `ops::metrics` registers them.

use std::time::Duration;

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// Cheap to clone: every clone observes into the same histograms.
#[derive(Clone, Debug)]
pub struct BatchMetrics {
    pub writes: Histogram,
    pub seconds: Histogram,
}

impl Default for BatchMetrics {
    fn default() -> Self {
        Self {
            // 1 to 1,024 writes.
            writes: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            // 50 µs to about 1.6 s: a sync on a fast disk to one that stalls.
            seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
        }
    }
}

impl BatchMetrics {
    /// A group commit of `writes` writes, durable `took` after its first write began.
    pub fn committed(&self, writes: usize, took: Duration) {
        self.writes.observe(writes as f64);
        self.seconds.observe(took.as_secs_f64());
    }
}
