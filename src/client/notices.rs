//! Joins and leaves, of the server and of rooms, as lines on everyone's screen: at most a few
//! a name in a while. Someone who joins and leaves over and over (within the server's budgets:
//! 20 requests a second) cannot scroll every other user's screen. The user list and `/rooms`
//! stay current all the same. Pure: the time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Lines about one name in [`WINDOW`]: enough for a newcomer's whole arrival (joined the
/// server, invited, joined a room, left it, left), not for a name that churns.
const PER_NAME: u32 = 8;
const WINDOW: Duration = Duration::from_secs(30);
/// Names counted at once: past it, those whose window is over are forgotten (each name takes
/// a join, which the server budgets per address).
const NAMES: usize = 1024;

/// What to do with a notice about a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    Show,
    /// Said once, instead of this notice: the name's notices stop for a while.
    Quieten,
    Hide,
}

/// The notices lately shown, by lower-cased name: since when, how many.
#[derive(Debug, Default)]
pub struct Notices {
    by_name: HashMap<String, (Instant, u32)>,
}

impl Notices {
    pub fn allow(&mut self, name: &str, now: Instant) -> Notice {
        if self.by_name.len() >= NAMES {
            self.by_name.retain(|_, (since, _)| now.duration_since(*since) < WINDOW);
            if self.by_name.len() >= NAMES {
                self.by_name.clear();
            }
        }
        let (since, count) = self.by_name.entry(name.to_ascii_lowercase()).or_insert((now, 0));
        if now.duration_since(*since) >= WINDOW {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        match *count {
            n if n <= PER_NAME => Notice::Show,
            n if n == PER_NAME + 1 => Notice::Quieten,
            _ => Notice::Hide,
        }
    }
}

/// Said once when `name`'s notices stop for a while.
pub fn quieten_line(name: &str) -> String {
    format!(
        "({name} keeps joining and leaving: not shown for {} s; the user list and /rooms stay \
         current.)",
        WINDOW.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_gets_a_few_lines_a_window_then_one_word_then_none_until_the_window_ends() {
        let mut notices = Notices::default();
        let t0 = Instant::now();
        let seen: Vec<Notice> = (0..PER_NAME + 3).map(|_| notices.allow("Eve", t0)).collect();
        use Notice::*;
        assert!(seen[..PER_NAME as usize].iter().all(|n| *n == Show), "{seen:?}");
        assert_eq!(seen[PER_NAME as usize..], [Quieten, Hide, Hide]);
        // Another name is not held back by eve's.
        assert_eq!(notices.allow("bob", t0), Show);
        // A window later, eve's lines show again.
        assert_eq!(notices.allow("eve", t0 + WINDOW), Show);
    }
}
