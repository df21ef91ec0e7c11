//! Retry backoff: exponential with jitter. The jitter is drawn by the caller from the
//! seeded RNG, so this stays a pure function.

use serde::{Deserialize, Serialize};

/// Exponential backoff with "equal jitter": the delay before retry n (n >= 1) is
/// `d = min(max_ms, base_ms * 2^(n-1))`, then a uniform draw from `[d * (1 - jitter), d]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub base_ms: u64,
    pub max_ms: u64,
    /// Fraction of the delay that is randomized, in [0, 1].
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base_ms: 100, max_ms: 5_000, jitter: 0.5 }
    }
}

impl RetryPolicy {
    /// The delay before retry number `failures` (1 = after the first failure), given a
    /// uniform draw `unit` in [0, 1).
    pub fn backoff_ms(&self, failures: u32, unit: f64) -> u64 {
        assert!((0.0..1.0).contains(&unit), "unit draw out of range: {unit}");
        let exp = failures.saturating_sub(1).min(32);
        let ceiling = self.base_ms.saturating_mul(1u64 << exp).min(self.max_ms);
        let spread = ceiling as f64 * self.jitter * unit;
        ceiling - spread as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_until_the_cap() {
        let p = RetryPolicy { base_ms: 100, max_ms: 1_000, jitter: 0.0 };
        let delays: Vec<u64> = (1..=6).map(|n| p.backoff_ms(n, 0.5)).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let p = RetryPolicy { base_ms: 1_000, max_ms: 10_000, jitter: 0.5 };
        assert_eq!(p.backoff_ms(1, 0.0), 1_000);
        assert_eq!(p.backoff_ms(1, 0.999_999), 501, "the spread rounds down");
        assert_eq!(p.backoff_ms(2, 0.5), 1_500);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let p = RetryPolicy { base_ms: u64::MAX / 2, max_ms: u64::MAX, jitter: 0.0 };
        assert_eq!(p.backoff_ms(u32::MAX, 0.0), u64::MAX);
    }
}
