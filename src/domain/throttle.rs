//! Attempt limits on verify: a 6-digit code must not be guessable at the
//! verifier's full speed (RFC 4226 §7.3, RFC 6238 §5.2).
//!
//! Failed verifications are counted per scope (a policy, or one entry when
//! the caller names its accessor). `max_failures` failures within `window`
//! seconds lock the scope: further verifications are refused without
//! checking the code, for `lockout` seconds, multiplied by `lockout_growth`
//! for each further lockout, up to `lockout_max`. A guesser therefore gets
//! at most `max_failures` guesses per `lockout_max` once the lockouts have
//! grown, or `max_failures - 1` per `window` if it paces itself below the
//! limit. Each guess matches one of 3 codes (the previous, current and next
//! step) of each of the scope's `k` live entries, so it takes about
//! `G = 10^6 / (3k)` guesses, and
//!
//! ```text
//! T = G / max(max_failures / lockout_max, (max_failures - 1) / window)
//! ```
//!
//! seconds: with the defaults (5 failures, 24 h window, lockouts from 15 min
//! doubling to 24 h) and `k = 16`, 11.4 years.

use serde::{Deserialize, Serialize};

use super::Refusal;

/// Seconds in a (365-day) year.
pub const YEAR: i64 = 365 * 24 * 3600;

/// The limits, as the `config` path stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThrottleConfig {
    /// Failures within `window` that lock a scope.
    pub max_failures: u32,
    /// Seconds over which failures are counted.
    pub window: i64,
    /// Seconds of the first lockout.
    pub lockout: i64,
    /// Each further lockout lasts this many times the previous one.
    pub lockout_growth: u32,
    /// Seconds no lockout exceeds.
    pub lockout_max: i64,
}

impl Default for ThrottleConfig {
    /// Safe without configuration: ≥ 1 year for a guesser at full speed
    /// against a policy with 16 live entries (see the module's formula).
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: 24 * 3600,
            lockout: 15 * 60,
            lockout_growth: 2,
            lockout_max: 24 * 3600,
        }
    }
}

/// Bounds of each setting: (field, lowest, highest).
const BOUNDS: [(&str, i64, i64); 5] = [
    ("max_failures", 1, 1_000),
    ("window", 60, YEAR),
    ("lockout", 1, YEAR),
    ("lockout_growth", 1, 100),
    ("lockout_max", 1, YEAR),
];

impl ThrottleConfig {
    /// The value of `field`, as an integer.
    pub fn get(&self, field: &str) -> Option<i64> {
        match field {
            "max_failures" => Some(i64::from(self.max_failures)),
            "window" => Some(self.window),
            "lockout" => Some(self.lockout),
            "lockout_growth" => Some(i64::from(self.lockout_growth)),
            "lockout_max" => Some(self.lockout_max),
            _ => None,
        }
    }

    /// The field names, in their documented order.
    pub fn fields() -> impl Iterator<Item = &'static str> {
        BOUNDS.iter().map(|(name, _, _)| *name)
    }

    /// Sets `field` to `value` if it is within its bounds.
    pub fn set(&mut self, field: &str, value: i64) -> Result<(), Refusal> {
        let Some((_, low, high)) = BOUNDS.iter().find(|(name, _, _)| *name == field) else {
            return Err(Refusal::new("is not a setting", "is not a setting"));
        };
        if !(*low..=*high).contains(&value) {
            return Err(Refusal::new(
                "is out of range",
                format!("must be between {low} and {high}"),
            ));
        }
        let narrow = u32::try_from(value).unwrap_or(u32::MAX);
        match field {
            "max_failures" => self.max_failures = narrow,
            "window" => self.window = value,
            "lockout" => self.lockout = value,
            "lockout_growth" => self.lockout_growth = narrow,
            _ => self.lockout_max = value,
        }
        Ok(())
    }

    /// What no single setting can check: the first lockout is no longer than the longest.
    pub fn check(&self) -> Result<(), (&'static str, Refusal)> {
        if self.lockout > self.lockout_max {
            return Err((
                "lockout",
                Refusal::new("exceeds lockout_max", "must be no longer than lockout_max"),
            ));
        }
        Ok(())
    }

    /// Seconds of the `nth` lockout in a row (1-based).
    pub fn lockout_seconds(&self, nth: u32) -> i64 {
        let mut seconds = self.lockout;
        for _ in 1..nth {
            seconds = seconds.saturating_mul(i64::from(self.lockout_growth));
            if seconds >= self.lockout_max {
                break;
            }
        }
        seconds.min(self.lockout_max)
    }

    /// The expected seconds until a guesser at full speed has one code of a
    /// scope with `entries` live entries accepted (the module's formula).
    pub fn expected_guessing_seconds(&self, entries: u32) -> f64 {
        let guesses = 1e6 / (3.0 * f64::from(entries.max(1)));
        let failures = f64::from(self.max_failures);
        let by_lockouts = failures / self.lockout_max as f64;
        let paced = (failures - 1.0) / self.window as f64;
        guesses / by_lockouts.max(paced)
    }
}

/// The failures of one scope, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Failures since `window_start`.
    pub failures: u32,
    /// Unix seconds: when the current counting window began.
    pub window_start: i64,
    /// Lockouts in a row (each longer than the last).
    pub lockouts: u32,
    /// Unix seconds: the scope is locked before this second.
    pub locked_until: i64,
}

impl AttemptRecord {
    /// Seconds until the scope accepts verifications again; `None` when it does now.
    pub fn locked_for(&self, now: i64) -> Option<i64> {
        (now < self.locked_until).then(|| self.locked_until - now)
    }

    /// Counts a failure at `now`; returns whether it locked the scope.
    pub fn record_failure(&mut self, now: i64, config: &ThrottleConfig) -> bool {
        if now >= self.window_start.saturating_add(config.window) {
            self.failures = 0;
            self.window_start = now;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures < config.max_failures {
            return false;
        }
        self.lockouts = self.lockouts.saturating_add(1);
        self.locked_until = now.saturating_add(config.lockout_seconds(self.lockouts));
        // Counting starts again when the lockout ends.
        self.failures = 0;
        self.window_start = self.locked_until;
        true
    }

    /// Whether the record can go: its window is over and no lockout has
    /// ended within `lockout_max` (so the lockouts' growth is forgotten
    /// only after a full longest lockout without one).
    pub fn is_stale(&self, now: i64, config: &ThrottleConfig) -> bool {
        now >= self.window_start.saturating_add(config.window)
            && now >= self.locked_until.saturating_add(config.lockout_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_hold_a_guesser_off_for_over_a_year_at_sixteen_entries() {
        let config = ThrottleConfig::default();
        let years = config.expected_guessing_seconds(16) / YEAR as f64;
        assert!(years >= 1.0, "{years} years");
        assert!(
            (11.0..12.0).contains(&years),
            "{years} years: the README says 11.4"
        );
        // One entry, or a scope named by accessor: far longer.
        assert!(config.expected_guessing_seconds(1) / YEAR as f64 > 150.0);
    }

    #[test]
    fn lockouts_grow_to_their_cap() {
        let config = ThrottleConfig::default();
        let seconds: Vec<i64> = (1..=9).map(|n| config.lockout_seconds(n)).collect();
        assert_eq!(
            seconds,
            [900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 86400]
        );
        assert_eq!(config.lockout_seconds(u32::MAX), 86400);
    }

    #[test]
    fn failures_lock_after_the_limit_and_count_again_after_the_lockout() {
        let config = ThrottleConfig::default();
        let mut record = AttemptRecord::default();
        for n in 1..5 {
            assert!(!record.record_failure(1_000, &config), "failure {n}");
            assert_eq!(record.locked_for(1_000), None);
        }
        assert!(record.record_failure(1_000, &config));
        assert_eq!(record.locked_for(1_000), Some(900));
        assert_eq!(record.locked_for(1_899), Some(1));
        assert_eq!(record.locked_for(1_900), None);
        // Five more failures after it: a lockout twice as long.
        for _ in 0..4 {
            assert!(!record.record_failure(1_900, &config));
        }
        assert!(record.record_failure(1_900, &config));
        assert_eq!(record.locked_for(1_900), Some(1_800));
    }

    #[test]
    fn a_window_without_enough_failures_starts_over() {
        let config = ThrottleConfig::default();
        let mut record = AttemptRecord::default();
        for _ in 0..4 {
            record.record_failure(0, &config);
        }
        // A day later the four failures are forgotten.
        assert!(!record.record_failure(86_400, &config));
        assert_eq!(record.failures, 1);
        assert!(!record.is_stale(86_400, &config));
        assert!(record.is_stale(2 * 86_400, &config));
    }

    #[test]
    fn settings_are_bounded() {
        let mut config = ThrottleConfig::default();
        for (field, value, ok) in [
            ("max_failures", 0, false),
            ("max_failures", 1, true),
            ("max_failures", 1_001, false),
            ("window", 59, false),
            ("window", YEAR, true),
            ("window", YEAR + 1, false),
            ("lockout", 0, false),
            ("lockout", -5, false),
            ("lockout_growth", 0, false),
            ("lockout_growth", 100, true),
            ("lockout_max", i64::MAX, false),
            ("nope", 1, false),
        ] {
            assert_eq!(config.set(field, value).is_ok(), ok, "{field}={value}");
        }
        config.lockout = 100;
        config.lockout_max = 99;
        assert_eq!(config.check().unwrap_err().0, "lockout");
    }
}
