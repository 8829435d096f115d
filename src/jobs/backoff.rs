//! Retry delays: exponential from a base, capped, with jitter so that jobs that failed together
//! do not retry together.

use std::time::Duration;

/// The delay before attempt `attempt + 1`, after `attempt` failed runs (1-based): between half
/// and all of `base × 2^(attempt-1)`, capped at `max`.
pub fn delay(attempt: u32, base_seconds: f64, max_seconds: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(62) as i32;
    let full = (base_seconds * 2f64.powi(exponent)).min(max_seconds);
    let jittered = full / 2.0 + rand::random::<f64>() * full / 2.0;
    Duration::from_secs_f64(jittered.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::delay;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        for _ in 0..100 {
            let first = delay(1, 30.0, 3600.0).as_secs_f64();
            assert!((15.0..=30.0).contains(&first), "{first}");
            let fourth = delay(4, 30.0, 3600.0).as_secs_f64();
            assert!((120.0..=240.0).contains(&fourth), "{fourth}");
            let late = delay(40, 30.0, 3600.0).as_secs_f64();
            assert!((1800.0..=3600.0).contains(&late), "{late}");
        }
    }

    #[test]
    fn the_defaults_keep_trying_for_more_than_a_day() {
        let defaults = crate::config::JobsConfig::default();
        // The shortest possible schedule: every delay at the bottom of its jitter range.
        let shortest: f64 = (1..defaults.max_attempts)
            .map(|a| {
                (defaults.retry_base_seconds * 2f64.powi(a as i32 - 1))
                    .min(defaults.retry_max_seconds)
                    / 2.0
            })
            .sum();
        assert!(shortest > 24.0 * 3600.0, "{shortest} s");
    }
}
