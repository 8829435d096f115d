//! When a failed delivery is tried again: the configured schedule (the Standard Webhooks one by
//! default) with jitter, never sooner than the receiver's `Retry-After`.

use std::time::Duration;

use crate::time::Instant;

/// When to try again after attempt `attempts` (1-based) failed at `now`; `None` once the
/// schedule is used up. Each wait is jittered by ±10% so that messages failed together do not
/// all come back together.
pub fn next_attempt(
    attempts: i64,
    schedule: &[f64],
    retry_after: Option<Duration>,
    now: Instant,
) -> Option<Instant> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base = *schedule.get(index)?;
    let jittered = base * (0.9 + 0.2 * rand::random::<f64>());
    let wait = Duration::from_secs_f64(jittered.max(0.0)).max(retry_after.unwrap_or_default());
    Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX))
}

/// A `Retry-After` header: seconds, or an HTTP date. At most a day is honoured.
pub fn retry_after(value: &str, now: Instant) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - now)
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(Duration::from_secs(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WebhooksConfig;

    #[test]
    fn the_default_schedule_is_the_specifications_with_jitter_then_gives_up() {
        let schedule = WebhooksConfig::default().retry_schedule_seconds;
        let now = chrono::DateTime::UNIX_EPOCH;
        let expected = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];
        for (attempt, base) in (1..).zip(expected) {
            let wait =
                (next_attempt(attempt, &schedule, None, now).unwrap() - now).as_seconds_f64();
            assert!(
                (base * 0.9..=base * 1.1).contains(&wait),
                "{attempt}: {wait}"
            );
        }
        assert_eq!(
            next_attempt(8, &schedule, None, now),
            None,
            "eight attempts in all"
        );
    }

    #[test]
    fn retry_after_is_honoured_in_seconds_or_as_a_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(retry_after("soon", now), None);
        let later = next_attempt(1, &[5.0], Some(Duration::from_secs(600)), now).unwrap();
        assert_eq!((later - now).num_seconds(), 600, "not sooner than asked");
    }
}
