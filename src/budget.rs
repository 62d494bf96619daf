//! Budgets: how much one client may ask of the server, and what happens past it. Pure: the
//! time is passed in, so the tests need no clock and no socket.
//!
//! - A [`Bucket`] lets `rate` actions a second through, with `burst` saved up: each client's
//!   chat messages, its other requests, its messages to any one recipient, and the messages any
//!   one recipient receives from everyone together.
//! - [`Strikes`] counts what was dropped over a window: a client whose messages keep being
//!   dropped is cut off, however its sending is spread over time.

use std::time::{Duration, Instant};

/// A token bucket. A rate of 0 lets everything through (for benchmarks).
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket { rate: f64::from(rate), burst, tokens: burst, last: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        false
    }
}

/// The window over which [`Strikes`] counts.
pub const STRIKE_WINDOW: Duration = Duration::from_secs(10);

/// What to do after one more dropped message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strike {
    /// Tell the client (it will hear about each drop: its own flood, its own bandwidth).
    Tell,
    /// Too many drops in the window: cut the client off.
    Cut,
}

/// Drops counted over a fixed window of [`STRIKE_WINDOW`]: more than `limit` in one window
/// and the client is cut. Unlike a count reset by every message that gets through, sending
/// just over the rate cannot go on for ever.
#[derive(Debug, Clone)]
pub struct Strikes {
    limit: u32,
    since: Instant,
    count: u32,
}

impl Strikes {
    pub fn new(limit: u32, now: Instant) -> Strikes {
        Strikes { limit, since: now, count: 0 }
    }

    /// Counts one drop that weighs `weight` (a drop that already made its sender wait counts
    /// for more: fewer of them fit in a window).
    pub fn strike(&mut self, now: Instant, weight: u32) -> Strike {
        if now.saturating_duration_since(self.since) >= STRIKE_WINDOW {
            self.since = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(weight);
        if self.count > self.limit { Strike::Cut } else { Strike::Tell }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_its_burst_then_its_rate_through() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 3, t0);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        // A tenth of a second later: one more.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.take(t1));
        assert!(!b.take(t1));
        // Rate 0: no limit.
        let mut free = Bucket::new(0, 0, t0);
        assert!((0..10_000).all(|_| free.take(t0)));
    }

    #[test]
    fn drops_spread_over_time_still_add_up_to_a_cut() {
        let t0 = Instant::now();
        let mut s = Strikes::new(5, t0);
        // One drop a second: under the old reset-on-success counting this went on for ever.
        let verdicts: Vec<Strike> =
            (0..6).map(|i| s.strike(t0 + Duration::from_millis(900 * i), 1)).collect();
        assert_eq!(verdicts[..5], [Strike::Tell; 5]);
        assert_eq!(verdicts[5], Strike::Cut);
        // A new window starts clean.
        let mut s = Strikes::new(1, t0);
        assert_eq!(s.strike(t0, 1), Strike::Tell);
        assert_eq!(s.strike(t0 + STRIKE_WINDOW, 1), Strike::Tell);
        // Heavier drops: fewer fit.
        let mut s = Strikes::new(20, t0);
        assert_eq!(s.strike(t0, 10), Strike::Tell);
        assert_eq!(s.strike(t0, 10), Strike::Tell);
        assert_eq!(s.strike(t0, 10), Strike::Cut);
    }
}
