//! The lockout policy, apart from where its counters are kept: what one more failed sign-in
//! does to a counter (one per address and source, one per address from anywhere).

use chrono::{DateTime, Duration, Utc};

/// A failure counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: i32,
    pub window_started_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The rule of one counter.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// This many failures within `window` lock.
    pub threshold: i32,
    pub window: Duration,
    /// How long a lock lasts.
    pub duration: Duration,
}

/// What one more failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Locked already, until then: the counter stays as it is (a failure that raced a lock
    /// must not lift it).
    StillLocked(DateTime<Utc>),
    /// Counted; store the counter. `failures` is the count including this one.
    Counted { failures: i32, counter: Counter },
    /// This one reached the threshold: the lock begins (the stored count starts again).
    Locks {
        failures: i32,
        until: DateTime<Utc>,
        counter: Counter,
    },
}

impl Policy {
    /// One more failure on `counter` at `now`.
    pub fn fail(&self, counter: Counter, now: DateTime<Utc>) -> Failure {
        if let Some(until) = counter.locked_until.filter(|u| *u > now) {
            return Failure::StillLocked(until);
        }
        // A window that has passed, or a lock that has ended, counts from one again.
        let fresh = counter.window_started_at + self.window < now
            || counter.locked_until.is_some_and(|u| u <= now);
        let (failures, window_started_at) = if fresh {
            (1, now)
        } else {
            (counter.failures + 1, counter.window_started_at)
        };
        if failures >= self.threshold {
            let until = now + self.duration;
            Failure::Locks {
                failures,
                until,
                counter: Counter {
                    failures: 0,
                    window_started_at,
                    locked_until: Some(until),
                },
            }
        } else {
            Failure::Counted {
                failures,
                counter: Counter {
                    failures,
                    window_started_at,
                    locked_until: None,
                },
            }
        }
    }
}

/// Seconds until `until`, at least one (a `Retry-After` of 0 would invite a retry at once).
pub fn retry_after_seconds(until: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (until - now).num_seconds().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    const POLICY: Policy = Policy {
        threshold: 3,
        window: Duration::minutes(15),
        duration: Duration::minutes(10),
    };

    fn counter(failures: i32, started: i64, locked_until: Option<i64>) -> Counter {
        Counter {
            failures,
            window_started_at: at(started),
            locked_until: locked_until.map(at),
        }
    }

    #[test]
    fn failures_within_the_window_count_up_to_a_lock() {
        let mut c = counter(0, 0, None);
        for n in 1..3 {
            match POLICY.fail(c, at(n * 60)) {
                Failure::Counted { failures, counter } => {
                    assert_eq!(failures, n as i32);
                    assert_eq!(counter.window_started_at, at(0));
                    c = counter;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            POLICY.fail(c, at(180)),
            Failure::Locks {
                failures: 3,
                until: at(180 + 600),
                counter: counter(0, 0, Some(180 + 600)),
            }
        );
    }

    #[test]
    fn a_lock_in_force_is_left_as_it_is() {
        let locked = counter(0, 0, Some(600));
        assert_eq!(POLICY.fail(locked, at(599)), Failure::StillLocked(at(600)));
    }

    #[test]
    fn a_passed_window_or_an_ended_lock_counts_from_one() {
        let old = counter(2, 0, None);
        let later = at(15 * 60 + 1);
        assert_eq!(
            POLICY.fail(old, later),
            Failure::Counted {
                failures: 1,
                counter: Counter {
                    failures: 1,
                    window_started_at: later,
                    locked_until: None
                },
            }
        );
        let ended = counter(0, 0, Some(600));
        assert!(matches!(
            POLICY.fail(ended, at(600)),
            Failure::Counted { failures: 1, .. }
        ));
    }

    #[test]
    fn a_threshold_of_one_locks_at_the_first_failure() {
        let strict = Policy {
            threshold: 1,
            ..POLICY
        };
        assert!(matches!(
            strict.fail(counter(0, 0, None), at(1)),
            Failure::Locks { failures: 1, .. }
        ));
    }

    #[test]
    fn retry_after_is_never_zero() {
        assert_eq!(retry_after_seconds(at(10), at(10)), 1);
        assert_eq!(retry_after_seconds(at(0), at(10)), 1);
        assert_eq!(retry_after_seconds(at(70), at(10)), 60);
    }
}
