//! Retry policy as a typed value. The delays come from backon (jittered exponential backoff);
//! the loop that uses them lives with the caller, which must also honour a global deadline.

use std::time::Duration;

use backon::{BackoffBuilder, ConstantBuilder, ExponentialBuilder};

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryPolicy {
    /// The same delay every time.
    Fixed { delay: Duration },
    /// `min`, growing by `factor`, with random jitter; never more than `max`.
    Exponential {
        min: Duration,
        max: Duration,
        factor: f32,
    },
    /// No delay at all: for tests only.
    Immediate,
}

impl RetryPolicy {
    /// The default for `wait`: 50 ms growing to 2 s.
    pub const WAIT_DEFAULT: Self = Self::Exponential {
        min: Duration::from_millis(50),
        max: Duration::from_secs(2),
        factor: 2.0,
    };

    /// The shortest delay a user-given policy waits (at most 100 attempts a second per target): a
    /// zero (`--backoff-min 0s`) would retry in a
    /// busy loop, burning a core until the deadline, and exponential growth from zero stays zero.
    pub const MIN_DELAY: Duration = Duration::from_millis(10);

    /// An endless sequence of delays.
    #[must_use]
    pub fn delays(&self) -> Box<dyn Iterator<Item = Duration> + Send> {
        match *self {
            Self::Fixed { delay } if delay < Self::MIN_DELAY => Self::Fixed {
                delay: Self::MIN_DELAY,
            }
            .delays(),
            // Twice the floor at least: delays grow to half the cap before jitter.
            Self::Exponential { min, max, factor } if min < Self::MIN_DELAY => Self::Exponential {
                min: Self::MIN_DELAY,
                max: max.max(Self::MIN_DELAY * 2),
                factor,
            }
            .delays(),
            Self::Fixed { delay } => Box::new(
                ConstantBuilder::default()
                    .with_delay(delay)
                    .without_max_times()
                    .build(),
            ),
            Self::Exponential { min, max, factor } => {
                // backon's jitter adds up to +100 % of the current delay. Growing only to half
                // the cap keeps delays at the cap spread over [max/2, max] instead of all equal
                // (which would synchronise every waiter).
                let delays = ExponentialBuilder::default()
                    .with_min_delay(min)
                    .with_max_delay(max / 2)
                    .with_factor(factor)
                    .with_jitter()
                    .without_max_times()
                    .build();
                // Only a `min` above `max / 2` could overshoot; the cap stays a cap.
                Box::new(delays.map(move |d| d.min(max)))
            }
            Self::Immediate => Box::new(std::iter::repeat(Duration::ZERO)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_grows_to_its_cap_with_jitter() {
        let policy = RetryPolicy::Exponential {
            min: Duration::from_millis(50),
            max: Duration::from_secs(2),
            factor: 2.0,
        };
        let delays: Vec<Duration> = policy.delays().take(12).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(100));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
        assert!(
            delays[11] >= Duration::from_secs(1),
            "late delays reach the cap region: {delays:?}"
        );
        let late: Vec<Duration> = policy.delays().skip(20).take(10).collect();
        assert!(
            late.windows(2).any(|w| w[0] != w[1]),
            "jitter survives at the cap: {late:?}"
        );
        // Jitter: two sequences differ somewhere.
        let again: Vec<Duration> = policy.delays().take(12).collect();
        assert_ne!(delays, again);
    }

    #[test]
    fn zero_delays_from_users_never_spin() {
        let zero = RetryPolicy::Exponential {
            min: Duration::ZERO,
            max: Duration::ZERO,
            factor: 2.0,
        };
        assert!(zero.delays().take(50).all(|d| d >= RetryPolicy::MIN_DELAY));
        let fixed = RetryPolicy::Fixed {
            delay: Duration::ZERO,
        };
        assert!(fixed.delays().take(50).all(|d| d == RetryPolicy::MIN_DELAY));
    }

    #[test]
    fn fixed_and_immediate() {
        let fixed = RetryPolicy::Fixed {
            delay: Duration::from_millis(10),
        };
        assert!(
            fixed
                .delays()
                .take(100)
                .all(|d| d == Duration::from_millis(10))
        );
        assert!(
            RetryPolicy::Immediate
                .delays()
                .take(100)
                .all(|d| d.is_zero())
        );
    }
}
