//! Durations for people and for JSON, the same everywhere stackctl prints one.

use std::time::Duration;

/// A duration for people: `0.3 ms`, `42 ms`, `1.2 s`, `2 m 5 s`.
#[must_use]
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if d.as_secs() < 120 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} m {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Milliseconds with microsecond precision, for JSON.
#[must_use]
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_micros(300)), "0.3 ms");
        assert_eq!(human_duration(Duration::from_millis(42)), "42 ms");
        assert_eq!(human_duration(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 m 5 s");
        assert!((millis(Duration::from_micros(1500)) - 1.5).abs() < f64::EPSILON);
    }
}
