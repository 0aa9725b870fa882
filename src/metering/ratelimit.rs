//! Request rate limits, separate from quotas: per client address on every route, a stricter
//! one per address on the routes that create guests or check passwords, and one per account
//! on the routes that need credentials. GCRA limiters from `governor`, kept in memory per
//! process (each replica limits on its own).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimitConfig;

/// One keyed limiter, or none when its rate is 0.
pub struct Keyed<K: Hash + Eq + Clone> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        Self { limiter, checks: AtomicU64::new(0) }
    }

    /// `per_hour` per key, all of them at once if they come together (none when 0).
    pub fn per_hour(per_hour: u32) -> Self {
        let limiter = NonZeroU32::new(per_hour).map(|rate| DefaultKeyedRateLimiter::keyed(Quota::per_hour(rate)));
        Self { limiter, checks: AtomicU64::new(0) }
    }

    /// `Err(wait)` when `key` is over its rate.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        // Forget keys that are back to a full bucket now and then, so memory stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

pub struct RateLimits {
    per_ip: Keyed<IpAddr>,
    auth_per_ip: Keyed<IpAddr>,
    per_account: Keyed<String>,
    /// Whether the client address may be taken from `X-Forwarded-For` (behind a proxy).
    pub trust_forwarded_for: bool,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            per_ip: Keyed::new(config.per_ip_per_minute, config.per_ip_burst),
            auth_per_ip: Keyed::new(config.auth_per_ip_per_minute, config.auth_per_ip_burst),
            per_account: Keyed::new(config.per_account_per_minute, config.per_account_burst),
            trust_forwarded_for: config.trust_forwarded_for,
        }
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.per_ip.check(&ip)
    }

    /// Guest creation, registration and login: the routes worth guessing at.
    pub fn check_auth_ip(&self, ip: IpAddr) -> Result<(), Duration> {
        self.auth_per_ip.check(&ip)
    }

    pub fn check_account(&self, account_id: &str) -> Result<(), Duration> {
        self.per_account.check(&account_id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_request_waits() {
        let config = RateLimitConfig { per_account_per_minute: 60, per_account_burst: 3, ..RateLimitConfig::default() };
        let limits = RateLimits::new(&config);
        for _ in 0..3 {
            assert!(limits.check_account("a").is_ok());
        }
        let wait = limits.check_account("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limits.check_account("b").is_ok(), "accounts are limited separately");
        let off = RateLimits::new(&RateLimitConfig { per_account_per_minute: 0, ..RateLimitConfig::default() });
        assert!((0..1000).all(|_| off.check_account("a").is_ok()));
    }
}
