//! Watching together: `/watch #room VIDEO [RES|auto]`, `/watch #room stop`, `/watch #room` (take
//! part again), `/pause`, `/play`, `/seek #room 1:30` (or a frame), and the news of a room's
//! watch as lines (`[#study] bob paused at 0:42`). Its frames come as a stream of our own does,
//! and the player plays them; the watch is the room's, so `q` (or `4`) leaves it alone rather
//! than stopping it for everyone.

use super::{Core, Step};
use crate::cmd::{self, WatchAction};
use crate::wire::WatchEvent;

impl Core {
    /// A watch command for `room`, then back to `back` (the server's answer, if a refusal,
    /// prints as it comes).
    pub(super) fn watch_command(&mut self, room: String, action: WatchAction, back: Step) {
        if action == WatchAction::Attach {
            self.watching = Some(room.clone());
        }
        self.send(cmd::Watch { room, action });
        self.enter(back);
    }

    /// `WTEV`: what a member did to `room`'s watch, and where the video is.
    pub(super) fn on_watch(&mut self, room: String, by: String, event: WatchEvent, at_ms: u32) {
        let ours = self.watching.as_ref().is_some_and(|r| r.eq_ignore_ascii_case(&room));
        // News of the watch we take part in already (we joined the room again, say).
        if ours && matches!(event, WatchEvent::Started { .. }) {
            return;
        }
        let at = clock(at_ms);
        let line = match &event {
            WatchEvent::Started { video } => format!("[{room}] {by} started {video}"),
            WatchEvent::Paused => format!("[{room}] {by} paused at {at}"),
            WatchEvent::Playing => format!("[{room}] {by} resumed at {at}"),
            WatchEvent::Seeked => format!("[{room}] {by} moved to {at}"),
            WatchEvent::Stopped => format!("[{room}] {by} stopped the video at {at}"),
            WatchEvent::Ended => format!("[{room}] the video ended"),
            WatchEvent::Behind { missed } => format!(
                "[{room}] your link is not keeping up: {missed} frames skipped so far \
                 (the others do not wait)"
            ),
        };
        self.say(line);
        match event {
            // Every member online takes part, as in a cinema (`q` leaves it alone); the one
            // who started it takes part already.
            WatchEvent::Started { .. } if !by.eq_ignore_ascii_case(&self.me) => {
                self.watching = Some(room.clone());
                self.send(cmd::Watch { room, action: WatchAction::Attach });
            }
            WatchEvent::Started { .. } => self.watching = Some(room),
            WatchEvent::Stopped | WatchEvent::Ended if ours => self.watching = None,
            _ => {}
        }
    }

    /// `q` or `4` while a stream plays: a room's watch is left alone (it goes on for the
    /// others); a stream of our own is stopped.
    pub(super) fn stop_playing(&mut self) {
        match self.watching.take() {
            Some(room) => self.send(cmd::Watch { room, action: WatchAction::Detach }),
            None => self.send(cmd::Stop),
        }
    }
}

/// Milliseconds as the time in a video: `0:42`, `12:05`, `1:02:03`.
pub fn clock(ms: u32) -> String {
    let s = ms / 1000;
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::clock;

    #[test]
    fn times_read_as_a_player_shows_them() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(42_900), "0:42");
        assert_eq!(clock(725_000), "12:05");
        assert_eq!(clock(3_723_000), "1:02:03");
    }
}
