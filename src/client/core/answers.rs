//! What each message from the server does to the client, and the events that are not
//! messages: a stream starting or ending, a wait running out, the connection lost and back.
//! Every server message reaches exactly one arm of [`Core::on_server`], so a late or
//! unexpected answer is handled, never dropped unseen.

use super::{CUT_OFF, Core, Effect, Step};
use crate::client::menu;
use crate::client::peers::{Change, DropReason};
use crate::client::player::{Feed, StreamEvent};
use crate::client::rooms;
use crate::cmd;
use crate::report::Chain;
use crate::wire::{ErrorCode, ServerMsg, User, VideoInfo};
use std::time::Instant;

impl Core {
    /// Every message from the server, each to its one arm.
    pub fn on_server(&mut self, msg: ServerMsg) -> Vec<Effect> {
        match msg {
            // The server checks we are still here.
            ServerMsg::Ping => self.send(cmd::Pong),
            ServerMsg::Chat { id, from, envelope } => self.on_chat(id, None, &from, &envelope),
            ServerMsg::RoomChat { id, room, from, envelope } => {
                self.on_chat(id, Some(&room), &from, &envelope)
            }
            ServerMsg::RoomInfo { room, members } => self.on_room_info(room, members),
            ServerMsg::RoomList(rooms) => self.on_room_list(rooms),
            ServerMsg::RoomLog { room, changes } => self.on_room_log(room, changes),
            ServerMsg::RoomChange { change } => self.on_room_change(change),
            ServerMsg::Watch { room, by, event, at_ms } => self.on_watch(room, by, event, at_ms),
            ServerMsg::Delivered { to, count } => {
                let held = menu::count(count, "held message");
                self.say(format!("[DELIVERED] {to} got your {held}"));
            }
            ServerMsg::Joined(_)
            | ServerMsg::Left { .. }
            | ServerMsg::Directory(_)
            | ServerMsg::UserKey(_) => self.on_directory(&msg),
            ServerMsg::Sent { to, queued } => self.on_sent(&to, queued),
            ServerMsg::Error { code, text } => self.on_error(code, text),
            ServerMsg::VideoList(videos) => self.on_videos(videos),
            // Bounded: if the player falls behind, so does reading from the server, and the
            // server's own queues hold the stream back.
            ServerMsg::StreamStart { .. }
            | ServerMsg::Frame { .. }
            | ServerMsg::StreamEnd { .. } => self.out.push(Effect::Player(Feed::Server(msg))),
            // Handshake replies, after the handshake: a confused or hostile server.
            ServerMsg::Hello { .. } | ServerMsg::Welcome { .. } => {
                log::warn!("ignored an unexpected {} frame from the server", msg.tag());
            }
        }
        self.take()
    }

    /// A message for us, direct or to `room` (shown only if a member of the room as we
    /// checked it wrote it: else it waits while we catch up with the room).
    fn on_chat(&mut self, id: u64, room: Option<&str>, from: &str, envelope: &[u8]) {
        if let Some(room) = room
            && !self.admit(id, room, from, envelope)
        {
            return;
        }
        self.show_chat(id, room, from, envelope);
    }

    /// A message for us: opened, written down, shown, then acknowledged.
    pub(super) fn show_chat(&mut self, id: u64, room: Option<&str>, from: &str, envelope: &[u8]) {
        match self.opener.open(&self.directory, room.unwrap_or(""), from, envelope) {
            Ok(text) => {
                self.talked(from);
                let untrusted = self.trust.is_blocked(from);
                let shown = self.shown_name(from);
                let line = match room {
                    Some(room) => rooms::chat_line(room, &shown, &text, untrusted),
                    None => menu::chat_line(&shown, &text, untrusted),
                };
                let accepted = self.opener.take_accepted();
                if accepted.as_ref().is_some_and(|a| a.maybe_shown) {
                    self.say(CUT_OFF.to_owned());
                }
                let noted = accepted.and_then(|a| a.noted);
                self.out.push(Effect::Show { line, noted });
            }
            // Sent again because our acknowledgement was lost: shown once already. Said, in
            // a word: a message is never dropped unsaid.
            Err(DropReason::ShownBefore) => {
                log::debug!("message {id} was shown before");
                self.say(format!(
                    "(A message from {from} shown before came again: not shown twice.)"
                ))
            }
            Err(why) => self.say(format!(
                "Warning: dropped a message claiming to be from {from}: {}",
                Chain(&why)
            )),
        }
        // Shown (and remembered), or dropped for good: the server may delete it.
        self.send(cmd::Ack { id });
    }

    /// `RLST`: at the start (not printed), the rooms to catch up with; else `/rooms`.
    fn on_room_list(&mut self, list: Vec<(String, Vec<String>)>) {
        if std::mem::take(&mut self.quiet_room_list) {
            self.sync_all(&list);
        } else {
            self.list_rooms(&list);
            self.room_done("");
        }
    }

    /// `RINF`: the members of a room we are about to write to, as the server says; sealed for
    /// those of our own roster only (`membership.rs`). Each member's key is checked against
    /// the one pinned for them, as a user's is.
    fn on_room_info(&mut self, room: String, members: Vec<User>) {
        let me = self.me.clone();
        // Those online were checked when they joined; the others are checked now.
        for member in members.iter().filter(|m| !m.name.eq_ignore_ascii_case(&me)) {
            if self.directory.online(&member.name).is_none() {
                self.directory.apply(&ServerMsg::UserKey(member.clone()));
                self.check_key(&member.name);
            }
        }
        let Step::RoomMembers { room: wanted } = &self.step else {
            return log::warn!("ignored the members of {room}: not asked for");
        };
        if !wanted.eq_ignore_ascii_case(&room) {
            return log::warn!("ignored the members of {room}: {wanted} was asked for");
        }
        let wanted = wanted.clone();
        match self.room_members(&wanted, members) {
            Some(others) => self.compose(Step::RoomMessage { room: wanted, members: others }),
            None => self.done_writing(false),
        }
    }

    pub(super) fn on_directory(&mut self, msg: &ServerMsg) {
        match self.directory.apply(msg) {
            Change::Joined(name) => {
                self.check_key(&name);
                let line = format!("[JOINED] {}", self.shown_name(&name));
                self.notice(&name, line);
            }
            Change::Left(name) => self.notice(&name, format!("[LEFT] {name}")),
            Change::Listed { ignored } => {
                if ignored > 0 {
                    self.say(
                        "Warning: ignored users the server listed with invalid or repeated names.",
                    );
                }
                let peers: Vec<String> =
                    self.directory.peers().iter().map(|p| p.name.clone()).collect();
                peers.iter().for_each(|name| self.check_key(name));
            }
            Change::KeyLearned(name) => {
                self.check_key(&name);
                self.key_learned(&name);
                if let Step::Key { name: wanted } = &self.step
                    && wanted.eq_ignore_ascii_case(&name)
                    && let Some(peer) = self.directory.get(&name).cloned()
                {
                    self.write_to(peer);
                }
            }
            Change::Refused(name) => self.say(format!(
                "Warning: ignored a user the server announced with an invalid name: {name:?}"
            )),
            Change::None => {}
        }
    }

    fn on_sent(&mut self, to: &str, queued: bool) {
        match &self.step {
            Step::Sending { to: name, .. } if name.eq_ignore_ascii_case(to) => {
                // (A room's members offline get it at their next join, as always: not said.)
                if queued && !name.starts_with('#') {
                    let line = format!("[QUEUED] {name} is offline; delivered when they return");
                    self.say(line);
                }
                self.done_writing(true);
            }
            // The answer to a message whose wait ran out.
            _ => self.say(format!("The server took your earlier message to {to} after all.")),
        }
    }

    fn on_error(&mut self, code: ErrorCode, text: String) {
        if code == ErrorCode::ShuttingDown {
            return self.say("Server is shutting down");
        }
        if code == ErrorCode::InviteOnly {
            // `#study is invite-only: ask a member to /invite you`, as the server says it.
            self.sync_refused(&text);
            return self.say(text);
        }
        if code == ErrorCode::Replaced {
            self.replaced = true;
            return self.say(format!("Error: {text}"));
        }
        if !self.step.answered_by(code) {
            return self.say(format!("Error: {text}"));
        }
        match std::mem::replace(&mut self.step, Step::Menu) {
            // Unknown, or asked too fast: each said as it is.
            Step::Key { name } => {
                match code {
                    ErrorCode::UnknownUser => self.unknown(&name),
                    _ => self.say(format!("Error: {text}")),
                }
                self.done_writing(false);
            }
            Step::Room { back, .. } => {
                self.say(format!("Error: {text}"));
                self.inviting = None;
                self.enter(*back);
            }
            // `You are not in #study`, as the server says it.
            Step::RoomMembers { .. } => {
                self.say(text);
                self.done_writing(false);
            }
            Step::Sending { text: message, .. } => {
                self.say(format!("Error: {text}"));
                self.keep(message);
                self.done_writing(false);
            }
            _ => {
                self.say(format!("Error: {text}"));
                self.enter(Step::Menu);
            }
        }
    }

    fn on_videos(&mut self, videos: Vec<VideoInfo>) {
        if !matches!(self.step, Step::Videos) {
            return log::debug!("ignored a video list that came after its wait ran out");
        }
        if videos.is_empty() {
            self.say("The server has no videos.");
            return self.enter(Step::Menu);
        }
        self.say("Videos:");
        menu::video_lines(&videos).into_iter().for_each(|line| self.say(line));
        self.enter(Step::Video { videos });
    }

    /// The `stream` thread's news.
    pub fn on_stream(&mut self, event: StreamEvent) -> Vec<Effect> {
        self.streaming = event == StreamEvent::Started;
        match (event, &self.step) {
            // The stream plays in the background: the menu is back at once.
            (StreamEvent::Started, Step::Starting) => self.enter(Step::Menu),
            (StreamEvent::Ended, Step::Menu) => self.say(menu::MENU),
            _ => {}
        }
        self.take()
    }

    /// Called at `now`, at or after the deadline: the answer the step waits for did not come.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Effect> {
        if self.deadline.is_none_or(|d| now < d) {
            return self.take();
        }
        match std::mem::replace(&mut self.step, Step::Menu) {
            Step::Key { name } => {
                self.say(format!("The server did not answer about {name}."));
                self.done_writing(false);
            }
            Step::Sending { to, text, sealed, tries: 1 } => {
                let line = format!(
                    "The server has not confirmed your message to {to} yet; sending it again."
                );
                self.say(line);
                self.request(sealed.clone(), Step::Sending { to, text, sealed, tries: 2 });
            }
            Step::Sending { text, .. } => {
                self.say("Error: the server did not confirm the message");
                self.keep(text);
                self.done_writing(false);
            }
            Step::Videos => {
                self.say("The server did not send its video list.");
                self.enter(Step::Menu);
            }
            Step::Starting => {
                self.say("The server did not start the stream.");
                self.enter(Step::Menu);
            }
            Step::Room { room, back } => {
                self.say(format!("The server did not answer about {room}."));
                self.inviting = None;
                self.enter(*back);
            }
            Step::RoomMembers { room } => {
                self.say(format!("The server did not answer about {room}."));
                self.done_writing(false);
            }
            Step::Quitting => self.out.push(Effect::Exit(0)),
            // A step that waits for no answer has no deadline: never a loop that spins on one.
            other => {
                self.step = other;
                self.deadline = None;
            }
        }
        self.take()
    }

    /// Offers a message the server did not take again, at the next message prompt.
    fn keep(&mut self, text: String) {
        if self.editing {
            self.say("Your message is kept: it is typed for you at the next message prompt.");
            self.kept = Some(text);
        }
    }

    /// The connection is gone: the end, or (`--reconnect`) a new one in the background.
    pub fn on_lost(&mut self) -> Vec<Effect> {
        if matches!(self.step, Step::Quitting) {
            self.out.push(Effect::Exit(0));
        } else if !self.reconnects || self.replaced {
            self.out.push(Effect::SayLast("Disconnected from server".into()));
            self.out.push(Effect::Exit(1));
        } else {
            self.out.push(Effect::Player(Feed::Lost));
            self.say("Connection to the server lost; reconnecting...");
            self.reconnecting = true;
            self.out.push(Effect::Reconnect);
        }
        self.take()
    }

    /// Joined again, and sent `directory`. What was held for us meanwhile arrives as on any
    /// join.
    pub fn on_back(&mut self, directory: Vec<User>) -> Vec<Effect> {
        self.on_directory(&ServerMsg::Directory(directory));
        self.reconnecting = false;
        self.opener.new_session();
        self.say("[RECONNECTED]");
        // A message the old connection took without a word is sent again, the same envelope:
        // if the server had kept it, the recipient shows it once all the same.
        if let Step::Sending { sealed, .. } = &self.step {
            let again = sealed.clone();
            self.send(again);
            self.deadline = Some(Instant::now() + crate::client::link::REPLY_TIMEOUT);
        }
        self.take()
    }
}
