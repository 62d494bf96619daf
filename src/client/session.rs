//! The terminal client's session, on the `send_chat` thread. It alone owns what the client
//! knows: the directory, the pinned keys, the step of the flow it is at (and the answer that
//! step waits for), whether a stream plays. It waits on three channels at once: lines from
//! the `input` thread, messages from the `recv_chat` thread, events from the `stream` thread.
//! Those threads only read and forward; every server message reaches exactly one arm of
//! [`Session::on_server`], so a late or unexpected answer is handled, never dropped unseen.

use crossbeam_channel::{Receiver, Sender, never, select};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::input::Input;
use super::link::{self, LinkReader, LinkWriter, REPLY_TIMEOUT, Rejoin, Relinked};
use super::menu::{self, Command, MenuChoice, RecipientChoice, VideoChoice};
use super::peers::{Change, Directory, DropReason, Opener, Peer, Sealer, Seen, Trust};
use super::player::{Feed, StreamEvent};
use super::rooms;
use super::screen;
use crate::cmd::{self, ClientMsg};
use crate::keys::{self, Identity, KeyError};
use crate::names;
use crate::report::Chain;
use crate::say;
use crate::wire::{self, Encode, ErrorCode, ReadError, ServerMsg, VideoInfo};

/// How long `QUIT` waits for the server to close the connection before exiting anyway.
const QUIT_GRACE: Duration = Duration::from_secs(3);

/// What the `recv_chat` thread (and a `reconnect` thread) hand the session.
pub enum Incoming {
    Msg(ServerMsg),
    /// The connection is gone; `recv_chat` waits for a new one (`--reconnect`) or the end.
    Lost(ReadError),
    /// A new connection, joined as the same user (`--reconnect`).
    Back(Box<Relinked>),
}

/// Where the session is in the flow: what it waits for next.
enum Step {
    /// A line at the home menu.
    Menu,
    /// A line: who to write to.
    Recipient,
    /// The server's answer to `KEYQ`: the key of `name`, registered and offline.
    Key { name: String },
    /// A line: the message for `to`.
    Message { to: Peer },
    /// The server's answer to `RQRY`: the members of `room`, to write to it.
    RoomMembers { room: String },
    /// A line: the message for `room`, to seal for each of `members`.
    RoomMessage { room: String, members: Vec<Peer> },
    /// The server's answer to the message `text` just sent to `to`, sealed as `sealed`:
    /// `SENT` or an error. Until then the same envelope is sent again after a reconnect, or
    /// once after a wait that ran out (`tries`), so the recipient shows it once.
    Sending { to: String, text: String, sealed: ClientMsg, tries: u8 },
    /// The server's video list.
    Videos,
    /// A line: which of `videos` to play.
    Video { videos: Vec<VideoInfo> },
    /// The stream to start, or the server's refusal.
    Starting,
    /// `QUIT` is sent: the server closing the connection.
    Quitting,
}

impl Step {
    fn wants_line(&self) -> bool {
        matches!(
            self,
            Step::Menu
                | Step::Recipient
                | Step::Message { .. }
                | Step::RoomMessage { .. }
                | Step::Video { .. }
        )
    }

    /// Whether an `ERRR` with `code` is the server's answer to what this step waits for.
    fn answered_by(&self, code: ErrorCode) -> bool {
        use ErrorCode::*;
        match self {
            Step::Sending { .. } => matches!(
                code,
                UnknownUser | RateLimited | RecipientTooSlow | MailboxFull | NotStored | NotInRoom
            ),
            Step::RoomMembers { .. } => {
                matches!(code, NotInRoom | NameInvalid | RateLimited | NotStored)
            }
            Step::Key { .. } => matches!(code, UnknownUser | RateLimited),
            Step::Videos => code == RateLimited,
            Step::Starting => matches!(code, UnknownVideo | VideoFailed | RateLimited),
            _ => false,
        }
    }
}

/// The channels of the session's threads.
pub struct Links {
    /// Lines from the `input` thread.
    pub input: Input,
    /// To send on; its connection is replaced when the client reconnects.
    pub writer: LinkWriter,
    /// From `recv_chat` (and `reconnect`).
    pub incoming: Receiver<Incoming>,
    /// Kept to hand a `reconnect` thread.
    pub incoming_tx: Sender<Incoming>,
    /// Hands `recv_chat` its new connection after a reconnect.
    pub readers: Sender<LinkReader>,
    /// From the `stream` thread.
    pub events: Receiver<StreamEvent>,
    /// To the `stream` thread.
    pub player: Sender<Feed>,
    /// The process's exit code, to the main thread.
    pub exit: Sender<i32>,
}

/// The two ends of direct messages, and the keys pinned for each user.
pub struct Crypto {
    pub sealer: Sealer,
    pub opener: Opener,
    pub trust: Trust,
}

/// Everything the client knows, owned by the `send_chat` thread.
pub struct Session {
    me: String,
    identity: Arc<Identity>,
    directory: Directory,
    trust: Trust,
    sealer: Sealer,
    opener: Opener,
    /// `--reconnect`: the server to join again when the connection is lost.
    reconnect: Option<Rejoin>,
    links: Links,
    step: Step,
    /// When the answer `step` waits for is given up on.
    deadline: Option<Instant>,
    streaming: bool,
    reconnecting: bool,
    /// A message the server did not take, typed again at the next message prompt.
    kept: Option<String>,
    /// The server closed this session for a newer one of ours: no reconnecting.
    replaced: bool,
    /// The rooms we are in, as far as we know (for Tab).
    rooms: BTreeSet<String>,
    /// The room list asked for at the start, to know our rooms, is not printed.
    quiet_room_list: bool,
    done: bool,
}

impl Session {
    /// The session of `me`, who joined with `identity` and was sent `directory`.
    pub fn new(
        me: String,
        identity: Arc<Identity>,
        directory: Directory,
        crypto: Crypto,
        reconnect: Option<Rejoin>,
        links: Links,
    ) -> Session {
        let Crypto { sealer, opener, trust } = crypto;
        Session {
            me,
            identity,
            directory,
            trust,
            sealer,
            opener,
            reconnect,
            links,
            step: Step::Menu,
            deadline: None,
            streaming: false,
            reconnecting: false,
            kept: None,
            replaced: false,
            rooms: BTreeSet::new(),
            quiet_room_list: false,
            done: false,
        }
    }

    /// The `send_chat` thread: pins the keys of those online, shows the menu, then handles
    /// whatever comes first until the client is done.
    pub fn run(mut self) {
        let peers: Vec<String> = self.directory.peers().iter().map(|p| p.name.clone()).collect();
        peers.iter().for_each(|name| self.check_key(name));
        // Our rooms, for Tab at the recipient prompt; the answer is not printed.
        self.quiet_room_list = self.links.writer.send(&cmd::RoomList).is_ok();
        self.enter(Step::Menu);
        let (lines, incoming) = (self.links.input.lines().clone(), self.links.incoming.clone());
        let mut events = self.links.events.clone();
        while !self.done {
            let wanted = if self.step.wants_line() { lines.clone() } else { never() };
            let wait = self
                .deadline
                .map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            select! {
                recv(wanted) -> line => self.on_line(line.unwrap_or(None)),
                recv(incoming) -> msg => match msg {
                    Ok(msg) => self.on_incoming(msg),
                    Err(_) => self.exit(1),
                },
                recv(events) -> event => match event {
                    Ok(event) => self.on_stream(event),
                    Err(_) => events = never(),
                },
                default(wait) => self.on_timeout(),
            }
        }
    }

    /// Moves to `step`: asks for its line, or starts the wait for its answer.
    fn enter(&mut self, step: Step) {
        self.deadline = match step {
            Step::Quitting => Some(Instant::now() + QUIT_GRACE),
            ref s if !s.wants_line() => Some(Instant::now() + REPLY_TIMEOUT),
            _ => None,
        };
        match &step {
            Step::Menu => self.links.input.ask_menu(menu::menu(self.streaming)),
            Step::Recipient => {
                let mut names: Vec<String> =
                    self.directory.peers().iter().map(|p| p.name.clone()).collect();
                names.extend(self.rooms.iter().cloned());
                self.links.input.ask(menu::ASK_RECIPIENT, names, "");
            }
            Step::Message { .. } | Step::RoomMessage { .. } => {
                let kept = self.kept.take().unwrap_or_default();
                self.links.input.ask(menu::ASK_MESSAGE, Vec::new(), &kept);
            }
            Step::Video { videos } => {
                let names = videos.iter().map(|v| v.name.clone()).collect();
                self.links.input.ask(menu::ASK_VIDEO, names, "");
            }
            _ => {}
        }
        self.step = step;
    }

    /// Sends a request and waits at `step` for its answer; back to the menu if the
    /// connection is gone (`recv_chat` reports it).
    fn request(&mut self, msg: &impl Encode, step: Step) {
        match self.links.writer.send(msg) {
            Ok(()) => self.enter(step),
            Err(_) => self.enter(Step::Menu),
        }
    }

    fn on_line(&mut self, line: Option<String>) {
        let Some(line) = line else { return self.quit() };
        match std::mem::replace(&mut self.step, Step::Menu) {
            Step::Menu => self.at_menu(&line),
            Step::Recipient => self.at_recipient(&line),
            Step::Message { to } => self.at_message(to, line),
            Step::RoomMessage { room, members } => self.at_room_message(room, members, line),
            Step::Video { videos } => self.at_video(&line, videos),
            // Lines are only read at the steps above.
            other => self.step = other,
        }
    }

    fn at_menu(&mut self, line: &str) {
        match menu::parse_menu(line, self.streaming) {
            MenuChoice::Chat => {
                self.print_users();
                self.enter(Step::Recipient);
            }
            // While one plays, a new stream replaces it (the server stops the first).
            MenuChoice::Stream => self.request(&cmd::ListVideos, Step::Videos),
            MenuChoice::Quit => self.quit(),
            MenuChoice::Stop if self.streaming => {
                let _ = self.links.writer.send(&cmd::Stop);
                // The stream's end prints "Stream stopped." and the plain menu: printing the
                // menu with "4. STOP" here, once more, would offer what is already asked.
                if self.links.input.editing() {
                    self.links.input.ask("> ", Vec::new(), "");
                }
                self.step = Step::Menu;
            }
            MenuChoice::Stop => {
                say!("No stream is playing.");
                self.enter(Step::Menu);
            }
            MenuChoice::Command(command) => {
                self.command(command);
                self.enter(Step::Menu);
            }
            MenuChoice::Nothing => self.enter(Step::Menu),
            MenuChoice::Unknown(why) => {
                say!("{why}");
                self.enter(Step::Menu);
            }
        }
    }

    fn at_recipient(&mut self, line: &str) {
        let name = match menu::parse_recipient(line) {
            RecipientChoice::Back => return self.enter(Step::Menu),
            RecipientChoice::Nothing => return self.enter(Step::Recipient),
            RecipientChoice::Command(command) => {
                self.command(command);
                return self.enter(Step::Recipient);
            }
            RecipientChoice::Room(room) => return self.ask_room(room),
            RecipientChoice::Name(name) => name,
        };
        if let Some(peer) = self.directory.online(&name).cloned() {
            return self.write_to(peer);
        }
        // Registered and offline, perhaps: the server has their key.
        let query = cmd::KeyQuery { name: name.clone() };
        if names::check(&name).is_err() || self.links.writer.send(&query).is_err() {
            self.unknown(&name);
            return self.enter(Step::Recipient);
        }
        self.enter(Step::Key { name });
    }

    /// Asks the server for `room`'s members and keys, to write to it.
    fn ask_room(&mut self, room: String) {
        if let Err(e) = names::check_room(&room) {
            say!("No room {room:?}: {e}.");
            return self.enter(Step::Recipient);
        }
        self.request(&cmd::RoomQuery { room: room.clone() }, Step::RoomMembers { room });
    }

    /// Seals `text` for each member of `room` whose key we trust, and sends it.
    fn at_room_message(&mut self, room: String, members: Vec<Peer>, text: String) {
        if text.is_empty() {
            say!("Empty message not sent.");
            return self.enter(Step::Recipient);
        }
        if let Some(command) = menu::command_in_message(&text) {
            self.command(command);
            return self.enter(Step::RoomMessage { room, members });
        }
        let (trusted, left_out): (Vec<&Peer>, Vec<&Peer>) =
            members.iter().partition(|m| !self.trust.is_blocked(&m.name));
        if !left_out.is_empty() {
            let names: Vec<String> = left_out.iter().map(|p| p.name.clone()).collect();
            say!("{}", rooms::left_out_line(&room, &names));
        }
        if trusted.is_empty() {
            say!("Nobody else in {room} can be written to: message not sent.");
            return self.enter(Step::Recipient);
        }
        let sealed = match self.sealer.seal_room(&room, &trusted, &text) {
            Ok(sealed) if sealed.encode().len() > wire::MAX_CLIENT_FRAME + wire::HEADER_LEN => {
                Err(format!(
                    "sealed for {} members it is over {} KiB",
                    trusted.len(),
                    wire::MAX_CLIENT_FRAME / 1024
                ))
            }
            Ok(sealed) => Ok(sealed),
            Err(e) => Err(Chain(&e).to_string()),
        };
        match sealed {
            Ok(sealed) => {
                let msg = sealed.clone();
                self.request(
                    &msg,
                    Step::Sending { to: room, text, sealed: sealed.into(), tries: 1 },
                );
            }
            // On a terminal, typed again at the same prompt, to be shortened.
            Err(why) if self.links.input.editing() => {
                say!("Message not sent: {why}. It is typed for you again: shorten it.");
                self.kept = Some(text);
                self.enter(Step::RoomMessage { room, members });
            }
            Err(why) => {
                say!("Message not sent: {why}");
                self.enter(Step::Recipient);
            }
        }
    }

    /// Asks for the message to `peer`, unless their key changed and is not yet trusted.
    fn write_to(&mut self, peer: Peer) {
        if self.trust.is_blocked(&peer.name) {
            let name = &peer.name;
            say!("Not sending to {name}: their key changed. Type /trust {name} if you are sure.");
            return self.enter(Step::Recipient);
        }
        self.enter(Step::Message { to: peer });
    }

    fn at_message(&mut self, to: Peer, text: String) {
        if text.is_empty() {
            say!("Empty message not sent.");
            return self.enter(Step::Recipient);
        }
        if let Some(command) = menu::command_in_message(&text) {
            self.command(command);
            return self.enter(Step::Message { to });
        }
        match self.sealer.seal(&to, &text) {
            Ok(sealed) => {
                let msg = sealed.clone();
                self.request(
                    &msg,
                    Step::Sending { to: to.name, text, sealed: sealed.into(), tries: 1 },
                );
            }
            // Too long: on a terminal it is typed again at the same prompt, to be shortened,
            // rather than lost.
            Err(e @ KeyError::TextTooLong { .. }) if self.links.input.editing() => {
                say!("Message not sent: {}. It is typed for you again: shorten it.", Chain(&e));
                self.kept = Some(text);
                self.enter(Step::Message { to });
            }
            Err(e) => {
                say!("Message not sent: {}", Chain(&e));
                self.enter(Step::Recipient);
            }
        }
    }

    fn at_video(&mut self, line: &str, videos: Vec<VideoInfo>) {
        if line.trim_start().starts_with('/') {
            self.command(menu::parse_command(line.trim()));
            return self.enter(Step::Video { videos });
        }
        match menu::parse_video_choice(line, &videos) {
            VideoChoice::Back => self.enter(Step::Menu),
            VideoChoice::Play { video, mode } => {
                self.request(&cmd::Play { video, mode }, Step::Starting);
            }
            VideoChoice::Invalid(why) => {
                if !why.is_empty() {
                    say!("{why}");
                }
                self.enter(Step::Video { videos });
            }
        }
    }

    fn on_incoming(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Msg(msg) => self.on_server(msg),
            Incoming::Lost(e) => self.on_lost(e),
            Incoming::Back(relinked) => self.on_back(*relinked),
        }
    }

    /// Every message from the server, each to its one arm.
    fn on_server(&mut self, msg: ServerMsg) {
        match msg {
            // The server checks we are still here.
            ServerMsg::Ping => {
                let _ = self.links.writer.send(&cmd::Pong);
            }
            ServerMsg::Chat { id, from, envelope } => self.on_chat(id, None, &from, &envelope),
            ServerMsg::RoomChat { id, room, from, envelope } => {
                self.on_chat(id, Some(&room), &from, &envelope)
            }
            ServerMsg::RoomInfo { room, members } => self.on_room_info(room, members),
            ServerMsg::RoomList(rooms) => {
                self.rooms = rooms.iter().map(|(room, _)| room.clone()).collect();
                if !std::mem::take(&mut self.quiet_room_list) {
                    let directory = &self.directory;
                    rooms::list_lines(&rooms, &self.me, |m| directory.online(m).is_some())
                        .iter()
                        .for_each(|l| say!("{l}"));
                }
            }
            ServerMsg::RoomJoined { room, name } => {
                say!("{}", rooms::member_line(&room, &name, true))
            }
            ServerMsg::RoomLeft { room, name } if name.eq_ignore_ascii_case(&self.me) => {
                self.rooms.remove(&room);
                say!("Left {room}");
            }
            ServerMsg::RoomLeft { room, name } => {
                say!("{}", rooms::member_line(&room, &name, false))
            }
            ServerMsg::Delivered { to, count } => {
                let messages = if count == 1 { "message" } else { "messages" };
                say!("[DELIVERED] {to} got your {count} held {messages}");
            }
            ServerMsg::Joined(_)
            | ServerMsg::Left { .. }
            | ServerMsg::Directory(_)
            | ServerMsg::UserKey(_) => self.on_directory(&msg),
            ServerMsg::Sent { to, queued } => self.on_sent(&to, queued),
            ServerMsg::Error { code, text } => self.on_error(code, text),
            ServerMsg::VideoList(videos) => self.on_videos(videos),
            ServerMsg::StreamStart { .. }
            | ServerMsg::Frame { .. }
            | ServerMsg::StreamEnd { .. } => {
                // Bounded: if the player falls behind, so does reading from the server, and
                // the server's own queues hold the stream back.
                let _ = self.links.player.send(Feed::Server(msg));
            }
            // Handshake replies, after the handshake: a confused or hostile server.
            ServerMsg::Hello { .. } | ServerMsg::Welcome { .. } => {
                log::warn!("ignored an unexpected {} frame from the server", msg.tag());
            }
        }
    }

    /// A message for us, direct or to `room`: opened, written down, shown, acknowledged.
    fn on_chat(&mut self, id: u64, room: Option<&str>, from: &str, envelope: &[u8]) {
        match self.opener.open(&self.directory, room.unwrap_or(""), from, envelope) {
            Ok(text) => {
                let untrusted = self.trust.is_blocked(from);
                let line = match room {
                    Some(room) => rooms::chat_line(room, from, &text, untrusted),
                    None => menu::chat_line(from, &text, untrusted),
                };
                // Written down, then shown, with nothing between (`Opener::remember`); the
                // file's upkeep after.
                let line = screen::line(format_args!("{line}"));
                self.opener.remember();
                screen::print_line(&line);
                self.opener.tidy();
            }
            // Sent again because our acknowledgement was lost: shown once already.
            Err(DropReason::ShownBefore) => log::debug!("message {id} was shown before"),
            Err(why) => {
                say!("Warning: dropped a message claiming to be from {from}: {}", Chain(&why))
            }
        }
        // Shown (and remembered), or dropped for good: the server may delete it.
        let _ = self.links.writer.send(&cmd::Ack { id });
    }

    /// A room and its members: the answer to `/join`, or to `#room` at the recipient prompt.
    /// Each member's key is checked against the one pinned for them, as a user's is.
    fn on_room_info(&mut self, room: String, members: Vec<wire::User>) {
        let names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
        let me = self.me.clone();
        // Those online were checked when they joined; the others are checked now.
        for member in members.iter().filter(|m| !m.name.eq_ignore_ascii_case(&me)) {
            if self.directory.online(&member.name).is_none() {
                self.directory.apply(&ServerMsg::UserKey(member.clone()));
                self.check_key(&member.name);
            }
        }
        self.rooms.insert(room.clone());
        match &self.step {
            Step::RoomMembers { room: wanted } if wanted.eq_ignore_ascii_case(&room) => {
                let others: Vec<Peer> = names
                    .iter()
                    .filter(|n| !n.eq_ignore_ascii_case(&self.me))
                    .filter_map(|n| self.directory.get(n).cloned())
                    .collect();
                self.enter(Step::RoomMessage { room, members: others });
            }
            _ => say!("{}", rooms::joined_line(&room, &names)),
        }
    }

    fn on_directory(&mut self, msg: &ServerMsg) {
        match self.directory.apply(msg) {
            Change::Joined(name) => {
                self.check_key(&name);
                say!("[JOINED] {name}");
            }
            Change::Left(name) => say!("[LEFT] {name}"),
            Change::Listed { ignored } => {
                if ignored > 0 {
                    say!(
                        "Warning: ignored users the server listed with invalid or repeated names."
                    );
                }
                let peers: Vec<String> =
                    self.directory.peers().iter().map(|p| p.name.clone()).collect();
                peers.iter().for_each(|name| self.check_key(name));
            }
            Change::KeyLearned(name) => {
                self.check_key(&name);
                if let Step::Key { name: wanted } = &self.step
                    && wanted.eq_ignore_ascii_case(&name)
                    && let Some(peer) = self.directory.get(&name).cloned()
                {
                    self.write_to(peer);
                }
            }
            Change::Refused(name) => {
                say!("Warning: ignored a user the server announced with an invalid name: {name:?}")
            }
            Change::None => {}
        }
    }

    fn on_sent(&mut self, to: &str, queued: bool) {
        match &self.step {
            Step::Sending { to: name, .. } if name.eq_ignore_ascii_case(to) => {
                // (A room's members offline get it at their next join, as always: not said.)
                if queued && !name.starts_with('#') {
                    say!("[QUEUED] {name} is offline; delivered when they return");
                }
                self.enter(Step::Recipient);
            }
            // The answer to a message whose wait ran out.
            _ => say!("The server took your earlier message to {to} after all."),
        }
    }

    fn on_error(&mut self, code: ErrorCode, text: String) {
        if code == ErrorCode::ShuttingDown {
            return say!("Server is shutting down");
        }
        if code == ErrorCode::Replaced {
            self.replaced = true;
            return say!("Error: {text}");
        }
        if !self.step.answered_by(code) {
            return say!("Error: {text}");
        }
        match std::mem::replace(&mut self.step, Step::Menu) {
            Step::Key { name } => {
                self.unknown(&name);
                self.enter(Step::Recipient);
            }
            // `You are not in #study`, as the server says it.
            Step::RoomMembers { .. } => {
                say!("{text}");
                self.enter(Step::Recipient);
            }
            Step::Sending { text: message, .. } => {
                say!("Error: {text}");
                self.keep(message);
                self.enter(Step::Recipient);
            }
            _ => {
                say!("Error: {text}");
                self.enter(Step::Menu);
            }
        }
    }

    fn on_videos(&mut self, videos: Vec<VideoInfo>) {
        if !matches!(self.step, Step::Videos) {
            return log::debug!("ignored a video list that came after its wait ran out");
        }
        if videos.is_empty() {
            say!("The server has no videos.");
            return self.enter(Step::Menu);
        }
        say!("Videos:");
        menu::video_lines(&videos).iter().for_each(|line| say!("{line}"));
        self.enter(Step::Video { videos });
    }

    fn on_stream(&mut self, event: StreamEvent) {
        self.streaming = event == StreamEvent::Started;
        match (event, &self.step) {
            // The stream plays in the background: the menu is back at once.
            (StreamEvent::Started, Step::Starting) => self.enter(Step::Menu),
            (StreamEvent::Ended, Step::Menu) => say!("{}", menu::MENU),
            _ => {}
        }
    }

    /// The answer the step waits for did not come in time.
    fn on_timeout(&mut self) {
        if self.deadline.is_none_or(|d| Instant::now() < d) {
            return;
        }
        match std::mem::replace(&mut self.step, Step::Menu) {
            Step::Key { name } => {
                self.unknown(&name);
                self.enter(Step::Recipient);
            }
            Step::Sending { to, text, sealed, tries: 1 } => {
                say!("The server has not confirmed your message to {to} yet; sending it again.");
                self.request(&sealed.clone(), Step::Sending { to, text, sealed, tries: 2 });
            }
            Step::Sending { text, .. } => {
                say!("Error: the server did not confirm the message");
                self.keep(text);
                self.enter(Step::Recipient);
            }
            Step::Videos => {
                say!("The server did not send its video list.");
                self.enter(Step::Menu);
            }
            Step::Starting => {
                say!("The server did not start the stream.");
                self.enter(Step::Menu);
            }
            Step::Quitting => self.exit(0),
            other => self.step = other,
        }
    }

    /// Offers a message the server did not take again, at the next message prompt.
    fn keep(&mut self, text: String) {
        if self.links.input.editing() {
            say!("Your message is kept: it is typed for you at the next message prompt.");
            self.kept = Some(text);
        }
    }

    fn on_lost(&mut self, e: ReadError) {
        if !matches!(e, ReadError::Closed) {
            log::debug!("connection lost: {}", Chain(&e));
        }
        if matches!(self.step, Step::Quitting) {
            return self.exit(0);
        }
        let Some(server) = self.reconnect.clone().filter(|_| !self.replaced) else {
            screen::say_last(format_args!("Disconnected from server"));
            return self.exit(1);
        };
        let _ = self.links.player.send(Feed::Lost);
        say!("Connection to the server lost; reconnecting...");
        self.reconnecting = true;
        let (me, identity) = (self.me.clone(), self.identity.clone());
        let (trace, back) = (self.links.writer.tracing(), self.links.incoming_tx.clone());
        let spawned = thread::Builder::new().name("reconnect".into()).spawn(move || {
            let relinked = link::rejoin(&server, &me, &identity, trace);
            let _ = back.send(Incoming::Back(Box::new(relinked)));
        });
        if let Err(e) = spawned {
            say!("Cannot reconnect: {e}");
            self.exit(1);
        }
    }

    /// Joined again: the new connection replaces the old one for every sender, and
    /// `recv_chat` reads from it. What was held for us meanwhile arrives as on any join.
    fn on_back(&mut self, relinked: Relinked) {
        self.links.writer.take_over(&relinked.writer);
        self.on_directory(&ServerMsg::Directory(relinked.joined.directory));
        self.reconnecting = false;
        self.opener.new_session();
        say!("[RECONNECTED]");
        let _ = self.links.readers.send(relinked.reader);
        // A message the old connection took without a word is sent again, the same envelope:
        // if the server had kept it, the recipient shows it once all the same.
        if let Step::Sending { sealed, .. } = &self.step {
            let _ = self.links.writer.send(&sealed.clone());
            self.deadline = Some(Instant::now() + REPLY_TIMEOUT);
        }
    }

    /// Tells the server we leave, then waits (a little) for it to close the connection, so
    /// everything we sent is delivered before the process exits.
    fn quit(&mut self) {
        if self.reconnecting || self.links.writer.send(&cmd::Quit).is_err() {
            return self.exit(0);
        }
        self.enter(Step::Quitting);
    }

    fn exit(&mut self, code: i32) {
        // 128 + SIGINT: what a shell expects of a program the user stopped with Ctrl-C.
        let code = if code == 0 && super::input::interrupted() { 130 } else { code };
        let _ = self.links.exit.send(code);
        self.done = true;
    }

    /// Checks a user's key against the one pinned for them, and warns, so it cannot be
    /// missed, if it changed.
    fn check_key(&mut self, name: &str) {
        let Some(peer) = self.directory.get(name) else { return };
        if name.eq_ignore_ascii_case(&self.me) {
            return;
        }
        match self.trust.see(name, &peer.key) {
            Ok(Seen::Changed { pinned }) => {
                let now = keys::full_fingerprint(&peer.key);
                menu::key_changed_lines(name, &pinned, &now).iter().for_each(|l| say!("{l}"));
            }
            Ok(Seen::First | Seen::Same) => {}
            Err(e) => say!("Cannot save {name}'s key: {}", Chain(&e)),
        }
    }

    /// `/trust NAME`, `/verify NAME`, the room commands, or what the commands are.
    fn command(&mut self, command: Command) {
        let request = match &command {
            Command::Join(room) => Some(ClientMsg::from(cmd::RoomJoin { room: room.clone() })),
            Command::Leave(room) => Some(ClientMsg::from(cmd::RoomLeave { room: room.clone() })),
            Command::Rooms => Some(ClientMsg::from(cmd::RoomList)),
            _ => None,
        };
        if let Some(request) = request {
            // The answer prints when it comes (`RINF`, `RLFT`, `RLST` or an error).
            if let Command::Join(room) | Command::Leave(room) = &command
                && let Err(e) = names::check_room(room)
            {
                return say!("No room {room:?}: {e}.");
            }
            let _ = self.links.writer.send(&request);
            return;
        }
        let (Command::Trust(name) | Command::Verify(name)) = &command else {
            return say!("{}", menu::COMMANDS_HELP);
        };
        let Some(key) = self.directory.get(name).map(|p| p.key.clone()) else {
            return say!("No key is known for {name:?}.");
        };
        if let Command::Verify(_) = command {
            let number = keys::safety_number(self.identity.public_der(), &key);
            say!(
                "Safety number for you and {name} (the same on both screens if nobody swapped keys):"
            );
            return say!("  {number}");
        }
        match self.trust.trust(name, &key) {
            Ok(()) => say!("You now trust {name}'s key {}.", keys::fingerprint(&key)),
            Err(e) => say!("Cannot save the key: {}", Chain(&e)),
        }
    }

    fn unknown(&self, name: &str) {
        say!("No user named {name:?} is online or registered.");
        self.print_users();
    }

    fn print_users(&self) {
        let trust = &self.trust;
        menu::user_lines(self.directory.peers(), &self.me, |name| trust.is_blocked(name))
            .iter()
            .for_each(|l| say!("{l}"));
    }
}

/// The `recv_chat` thread: reads every frame from the server and hands it to the session.
/// When the connection is lost it says so, then reads from the next connection it is given
/// (`--reconnect`), or ends.
pub fn recv_chat(mut reader: LinkReader, session: Sender<Incoming>, readers: Receiver<LinkReader>) {
    loop {
        let incoming = match reader.recv() {
            Ok(msg) => Incoming::Msg(msg),
            Err(e) => Incoming::Lost(e),
        };
        let lost = matches!(incoming, Incoming::Lost(_));
        if session.send(incoming).is_err() {
            return;
        }
        if lost {
            match readers.recv() {
                Ok(next) => reader = next,
                Err(_) => return,
            }
        }
    }
}
