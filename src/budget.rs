//! Budgets: how much one client may ask of the server, and what happens past it. Pure: the
//! time is passed in, so the tests need no clock and no socket.
//!
//! - A [`Bucket`] lets `rate` actions a second through, with `burst` saved up: each client's
//!   chat messages, its other requests, its messages to any one recipient, and the messages any
//!   one recipient receives from everyone together.
//! - [`Buckets`] keeps one bucket per key: the joins from each source address.
//! - [`Strikes`] counts what was dropped over a window: a client whose messages keep being
//!   dropped is cut off, however its sending is spread over time.

use std::collections::HashMap;
use std::hash::Hash;
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
        Bucket::per_second(f64::from(rate), burst, now)
    }

    /// `rate` actions a second, which may be a fraction (`1.0 / 6.0`: one every 6 s).
    pub fn per_second(rate: f64, burst: u32, now: Instant) -> Bucket {
        let burst = f64::from(burst.max(1));
        Bucket { rate, burst, tokens: burst, last: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return true;
        }
        false
    }

    /// Takes `n` tokens if there is at least one: what is missing is owed, paid back by the
    /// time the next token comes. A room message to `n` members costs its sender `n`
    /// messages this way, however small the burst.
    pub fn take_n(&mut self, now: Instant, n: u32) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= f64::from(n);
            return true;
        }
        false
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }

    /// How long until a token is there (zero if one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        if self.rate == 0.0 {
            return Duration::ZERO;
        }
        self.refill(now);
        Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }

    /// Whether the bucket is full again by `now`: as good as a new one.
    fn is_full(&mut self, now: Instant) -> bool {
        self.rate == 0.0 || {
            self.refill(now);
            self.tokens >= self.burst
        }
    }
}

/// Keys remembered before [`Buckets`] first forgets those whose bucket is full again.
const KEYS_BEFORE_PRUNING: usize = 1024;

/// One [`Bucket`] per key, each made full the first time its key is seen. A key whose bucket
/// has filled up again is forgotten once many keys are remembered, so the map holds only the
/// keys that used part of their budget lately: its size follows the senders, not the time.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: f64,
    burst: u32,
    buckets: HashMap<K, Bucket>,
    /// The size at which full buckets are next forgotten: twice what the last pruning kept,
    /// so pruning costs each `take` O(1) on average even when nothing can be forgotten.
    prune_at: usize,
}

impl<K: Hash + Eq> Buckets<K> {
    /// `rate` actions a second for each key (0: no limit), bursts of `burst`.
    pub fn new(rate: f64, burst: u32) -> Buckets<K> {
        Buckets { rate, burst, buckets: HashMap::new(), prune_at: KEYS_BEFORE_PRUNING }
    }

    /// Takes one of `key`'s tokens; if there is none, how long until there is.
    pub fn take(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        if self.buckets.len() >= self.prune_at {
            self.buckets.retain(|_, bucket| !bucket.is_full(now));
            self.prune_at = (2 * self.buckets.len()).max(KEYS_BEFORE_PRUNING);
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket =
            self.buckets.entry(key).or_insert_with(|| Bucket::per_second(rate, burst, now));
        if bucket.take(now) { Ok(()) } else { Err(bucket.wait(now)) }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
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
    fn a_fan_out_is_paid_for_in_full_even_beyond_the_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 5, t0);
        // A room of 20: let through, and owed (15 tokens short).
        assert!(b.take_n(t0, 20));
        assert!(!b.take(t0));
        // The debt is paid at 10 a second: 1.5 s, then one more token for the next message.
        assert!(!b.take(t0 + Duration::from_millis(1500)));
        assert!(b.take(t0 + Duration::from_millis(1600)));
    }

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
    fn each_key_has_its_own_bucket_and_idle_keys_are_forgotten() {
        let t0 = Instant::now();
        // One every 6 s, bursts of 2.
        let mut joins = Buckets::new(1.0 / 6.0, 2);
        let secs = |r: Result<(), Duration>| r.map_err(|d| d.as_secs_f64().round() as u64);
        assert_eq!(joins.take("10.0.0.1", t0), Ok(()));
        assert_eq!(joins.take("10.0.0.1", t0), Ok(()));
        assert_eq!(secs(joins.take("10.0.0.1", t0)), Err(6));
        // Another key is not held back by the first.
        assert_eq!(joins.take("10.0.0.2", t0), Ok(()));
        // 3 s on: half a token, 3 s to wait.
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(secs(joins.take("10.0.0.1", t1)), Err(3));
        assert_eq!(joins.take("10.0.0.1", t1 + Duration::from_millis(3001)), Ok(()));

        // Thousands of keys, each used once: once they are full again they are forgotten.
        let mut many = Buckets::new(1.0, 1);
        for i in 0..5000u32 {
            many.take(i, t0).unwrap();
        }
        assert_eq!(many.len(), 5000, "a key whose bucket is not full is remembered");
        // 2 s later the first 5000 are full again. New keys: at the next pruning (the map has
        // grown past twice what the last one kept) the old ones go, the new ones stay.
        let later = t0 + Duration::from_secs(2);
        for i in 0..4000u32 {
            many.take(10_000 + i, later).unwrap();
        }
        assert_eq!(many.len(), 4000);
        // Writing to thousands of other keys never gives one key its burst back: a sender
        // cannot rotate through recipients to reset its budget for one of them.
        let mut pairs = Buckets::new(1.0, 1);
        assert_eq!(pairs.take("bob".to_string(), t0), Ok(()));
        assert!(pairs.take("bob".to_string(), t0).is_err());
        for i in 0..5000 {
            let _ = pairs.take(format!("user{i}"), t0);
        }
        assert!(pairs.take("bob".to_string(), t0).is_err());
        // Rate 0: no limit, nothing remembered.
        let mut free = Buckets::new(0.0, 0);
        assert!((0..100).all(|_| free.take(1, t0).is_ok()));
        assert!(free.is_empty());
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
