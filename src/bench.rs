//! `chatroom bench`: drives a running server with real clients over real sockets and reports
//! throughput, latency and losses. Speed is measured here, never asserted in tests; the tests
//! only check that the counts a bench reports are right.
//!
//! - [`chat`]: N clients, S senders, M messages each; delivered, lost, corrupted, latency.
//! - [`room`]: one room of N members, one writing M messages to it: the sealing cost per
//!   member, and the envelopes a second delivered (`bench chat --room N`).
//! - [`stream`]: N clients stream the same video at once; frames/s, time to first frame.
//! - [`watch`]: one room of N members watching a video together: how far apart a frame
//!   reaches them (p50, p99), and the frames each missed (`bench watch --room N`).
//! - [`decode`]: the yardstick for `stream`: FFmpeg decoding the same frames, and nothing else.
//! - [`original`]: the same workloads in the Python original's protocol (`--original`), for
//!   `make compare`. Only the bench speaks it.

pub mod chat;
pub mod decode;
pub mod original;
pub mod room;
pub mod stream;
pub mod watch;

pub use chat::{ChatBench, ChatMode, ChatReport};
pub use decode::{DecodeBench, DecodeReport};
pub use stream::{StreamBench, StreamReport};
pub use watch::{WatchBench, WatchReport};

use std::sync::Arc;

use crate::client::ClientError;
use crate::client::link::{self, LinkReader, LinkWriter};
use crate::client::peers::Directory;
use crate::keys::Identity;

/// The value at quantile `q` (0 to 1) of `samples`, which it sorts.
pub fn percentile(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[rank]
}

/// One joined bench client.
struct Member {
    name: String,
    reader: LinkReader,
    writer: LinkWriter,
    directory: Directory,
    /// Chat messages it may have unanswered at once (`WLCM`).
    window: u16,
}

/// Joins `count` clients named `{prefix}0`, `{prefix}1`..., sharing the identities in turn.
fn join_all(
    server: &str,
    prefix: &str,
    count: usize,
    ids: &[Arc<Identity>],
) -> Result<Vec<Member>, ClientError> {
    let mut members = Vec::with_capacity(count);
    for i in 0..count {
        let (mut reader, writer) = link::connect(server, false)?;
        let name = format!("{prefix}{i}");
        let joined = link::join(&mut reader, &writer, &name, &ids[i % ids.len()], false)?;
        let directory = Directory::new(joined.directory);
        let window = joined.window;
        members.push(Member { name: joined.name, reader, writer, directory, window });
    }
    Ok(members)
}

/// A name prefix no other bench run uses: the server binds each name to the key of its first
/// join, and every run makes new keys. (Bench a server started with `--db :memory:`, or its
/// database keeps every bench name.)
fn unique_prefix(kind: &str) -> String {
    format!("{kind}{}x{:04x}x", std::process::id() % 100_000, rand::random::<u16>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), 51.0);
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}
