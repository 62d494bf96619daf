//! The client's decisions, as a plain state machine: what a typed line means at the step the
//! client is at, what a server message does, what a timeout or a lost connection does. There
//! is no thread, socket or terminal in here: each event goes in ([`Core::on_line`],
//! [`Core::on_server`], ...) and a list of [`Effect`]s comes out, in the order they are to
//! happen (a message's line is printed before it is acknowledged). The `send_chat` thread
//! (`session.rs`) only moves events in and carries effects out; the unit tests below drive
//! the core with `assert_eq!` and no network at all.
//!
//! - here: the steps, the effects, and what a line means at each step;
//! - `answers`: what each message from the server does, and timeouts, losses, reconnects;
//! - `commands`: `/trust`, `/verify`, and the key checks;
//! - `conversation`: `/msg` and `/query`, writing without the recipient prompt;
//! - `membership`: the rooms as this client checks them (commands, chains, members);
//! - `watching`: a room's watch (`/watch`, `/pause`...), and its news.

mod answers;
mod commands;
mod conversation;
mod membership;
mod watching;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::link::REPLY_TIMEOUT;
use super::menu::{self, MenuChoice, RecipientChoice, VideoChoice};
use super::notices::Notices;
use super::peers::{Directory, Opener, Peer, Sealer, Trust};
use super::player::Feed;
use super::rooms;
use super::rosters::Rosters;
use super::seen::Noted;
use crate::cmd::{self, ClientMsg};
use crate::keys::{Identity, KeyError};
use crate::names;
use crate::report::Chain;
use crate::wire::{self, Encode, ErrorCode, VideoInfo};
use membership::HeldChat;

/// How long `QUIT` waits for the server to close the connection before exiting anyway.
const QUIT_GRACE: Duration = Duration::from_secs(3);

/// Said before a message an earlier session was printing when it ended (see `seen.rs`).
pub const CUT_OFF: &str =
    "(The next message may be a repeat: this client stopped while it was printing it.)";

/// What the core asks of the world, in order.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// A line to print (escaped on the way out).
    Say(String),
    /// The client's last line: nothing prints after it.
    SayLast(String),
    /// A message's line, with its two notes in the `seen` file: the shell writes the first
    /// right before the line goes out and the second once it is written (`seen.rs`).
    Show {
        line: String,
        noted: Option<Noted>,
    },
    Send(ClientMsg),
    /// Ask for a line: the prompt, the words Tab completes, the text already typed.
    Ask {
        prompt: String,
        words: Vec<String>,
        typed: String,
    },
    /// Ask for a line at the home menu, printed first.
    AskMenu(String),
    /// To the `stream` thread.
    Player(Feed),
    /// Join the server again in the background (`--reconnect`); `Back` comes when joined.
    Reconnect,
    /// The client is done, with this exit code.
    Exit(i32),
}

/// Where the session is in the flow: what it waits for next.
#[derive(Debug)]
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
    /// The answer to a room command about `room` (lower-cased): its changes (`RLOG`), our
    /// signed change back (`RCHG`), or a refusal; then `back`, where the command was typed.
    /// Lines wait meanwhile, so a script's next line comes after the room changed.
    Room { room: String, back: Box<Step> },
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
            Step::Room { .. } => matches!(
                code,
                InviteOnly
                    | BadRoomChange
                    | RoomLimit
                    | NameInvalid
                    | NotInRoom
                    | UnknownUser
                    | RateLimited
                    | NotStored
            ),
            _ => false,
        }
    }
}

/// The two ends of direct messages, the keys pinned for each user, and the rooms' chains
/// of signed changes as this client checked them.
pub struct Crypto {
    pub sealer: Sealer,
    pub opener: Opener,
    pub trust: Trust,
    pub rosters: Rosters,
}

/// Everything the client knows and decides.
pub struct Core {
    me: String,
    identity: Arc<Identity>,
    directory: Directory,
    trust: Trust,
    sealer: Sealer,
    opener: Opener,
    /// The user types at a line editor (a terminal): a refused message can be typed again.
    editing: bool,
    /// `--reconnect`: a lost connection is made again.
    reconnects: bool,
    step: Step,
    /// When the answer `step` waits for is given up on.
    deadline: Option<Instant>,
    streaming: bool,
    reconnecting: bool,
    /// A message the server did not take, typed again at the next message prompt.
    kept: Option<String>,
    /// The server closed this session for a newer one of ours: no reconnecting.
    replaced: bool,
    /// The rooms, as we checked their chains of signed changes.
    rosters: Rosters,
    /// Rooms we asked to join (lower-cased): their `RLOG` is followed by what joining takes.
    joining: BTreeSet<String>,
    /// Rooms whose changes we asked for and wait for (lower-cased).
    syncing: BTreeSet<String>,
    /// Room messages from someone not yet in our roster, until we catch up with the room.
    held: Vec<HeldChat>,
    /// `/invite` waiting for the invitee's key: (room, name).
    inviting: Option<(String, String)>,
    /// The room list asked for at the start, to catch up with our rooms, is not printed.
    quiet_room_list: bool,
    /// Joins and leaves lately said, by name: a name that churns is not said every time.
    notices: Notices,
    /// The room whose watch plays on our player, if any.
    watching: Option<String>,
    /// A `/msg` on its way.
    msg: Option<conversation::Msg>,
    /// The conversation `/query` is in (each line is a message to it), and the step it was
    /// started at, to go back to.
    query: Option<(String, Step)>,
    /// What the event being handled asks for, in order.
    out: Vec<Effect>,
}

impl Core {
    /// The core of `me`, who joined with `identity` and was sent `directory`.
    pub fn new(
        me: String,
        identity: Arc<Identity>,
        directory: Directory,
        crypto: Crypto,
        editing: bool,
        reconnects: bool,
    ) -> Core {
        let Crypto { sealer, opener, trust, rosters } = crypto;
        Core {
            me,
            identity,
            directory,
            trust,
            sealer,
            opener,
            editing,
            reconnects,
            step: Step::Menu,
            deadline: None,
            streaming: false,
            reconnecting: false,
            kept: None,
            replaced: false,
            rosters,
            joining: BTreeSet::new(),
            syncing: BTreeSet::new(),
            held: Vec::new(),
            inviting: None,
            quiet_room_list: false,
            notices: Notices::default(),
            watching: None,
            msg: None,
            query: None,
            out: Vec::new(),
        }
    }

    /// The start: pins the keys of those online, asks for our rooms (to catch up with each;
    /// the list is not printed), shows the menu.
    pub fn start(&mut self) -> Vec<Effect> {
        let peers: Vec<String> = self.directory.peers().iter().map(|p| p.name.clone()).collect();
        peers.iter().for_each(|name| self.check_key(name));
        for warning in self.rosters.take_warnings() {
            self.say(warning);
        }
        self.send(cmd::RoomList);
        self.quiet_room_list = true;
        self.enter(Step::Menu);
        self.take()
    }

    /// Whether the step reads a line now (else typed lines wait).
    pub fn wants_line(&self) -> bool {
        self.step.wants_line()
    }

    /// When the answer the step waits for is given up on: then call [`Core::on_timeout`].
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// A line typed, or `None` at the end of input.
    pub fn on_line(&mut self, line: Option<String>) -> Vec<Effect> {
        let Some(line) = line else {
            self.quit();
            return self.take();
        };
        match std::mem::replace(&mut self.step, Step::Menu) {
            Step::Menu => self.at_menu(&line),
            Step::Recipient => self.at_recipient(&line),
            Step::Message { to } => self.at_message(to, line),
            Step::RoomMessage { room, members } => self.at_room_message(room, members, line),
            Step::Video { videos } => self.at_video(&line, videos),
            // Lines are only read at the steps above.
            other => self.step = other,
        }
        self.take()
    }

    fn take(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    fn say(&mut self, line: impl Into<String>) {
        self.out.push(Effect::Say(line.into()));
    }

    fn send(&mut self, msg: impl Into<ClientMsg>) {
        self.out.push(Effect::Send(msg.into()));
    }

    fn ask(&mut self, prompt: &str, words: Vec<String>, typed: String) {
        self.out.push(Effect::Ask { prompt: prompt.to_owned(), words, typed });
    }

    /// Moves to `step`: asks for its line, or starts the wait for its answer.
    fn enter(&mut self, step: Step) {
        self.deadline = match step {
            Step::Quitting => Some(Instant::now() + QUIT_GRACE),
            ref s if !s.wants_line() => Some(Instant::now() + REPLY_TIMEOUT),
            _ => None,
        };
        match &step {
            Step::Menu => self.out.push(Effect::AskMenu(menu::menu(self.streaming).to_owned())),
            Step::Recipient => self.ask(menu::ASK_RECIPIENT, self.arg_words(), String::new()),
            Step::Message { .. } | Step::RoomMessage { .. } => {
                let kept = self.kept.take().unwrap_or_default();
                let prompt = self.message_prompt();
                self.ask(&prompt, Vec::new(), kept);
            }
            Step::Video { videos } => {
                let names = videos.iter().map(|v| v.name.clone()).collect();
                self.ask(menu::ASK_VIDEO, names, String::new());
            }
            _ => {}
        }
        self.step = step;
    }

    /// Sends a request and waits at `step` for its answer.
    fn request(&mut self, msg: impl Into<ClientMsg>, step: Step) {
        self.send(msg);
        self.enter(step);
    }

    fn at_menu(&mut self, line: &str) {
        match menu::parse_menu(line, self.streaming) {
            MenuChoice::Chat => {
                self.print_users();
                self.enter(Step::Recipient);
            }
            // While one plays, a new stream replaces it (the server stops the first).
            MenuChoice::Stream => self.request(cmd::ListVideos, Step::Videos),
            MenuChoice::Quit => self.quit(),
            MenuChoice::Stop if self.streaming => {
                self.stop_playing();
                // The stream's end prints "Stream stopped." and the plain menu: printing the
                // menu with "4. STOP" here, once more, would offer what is already asked.
                if self.editing {
                    self.ask("> ", Vec::new(), String::new());
                }
                self.step = Step::Menu;
            }
            MenuChoice::Stop => {
                self.say("No stream is playing.");
                self.enter(Step::Menu);
            }
            MenuChoice::Command(command) => self.command(command, Step::Menu),
            MenuChoice::Nothing => self.enter(Step::Menu),
            MenuChoice::Unknown(why) => {
                self.say(why);
                self.enter(Step::Menu);
            }
        }
    }

    fn at_recipient(&mut self, line: &str) {
        match menu::parse_recipient(line) {
            RecipientChoice::Back => self.enter(Step::Menu),
            RecipientChoice::Nothing => self.enter(Step::Recipient),
            RecipientChoice::Command(command) => self.command(command, Step::Recipient),
            RecipientChoice::Room(room) => self.ask_room(room),
            RecipientChoice::Name(name) => self.write_to_target(&name),
        }
    }

    /// Writes to `target`, a user or a `#room`: its key or members first, if need be.
    fn write_to_target(&mut self, target: &str) {
        if target.starts_with('#') {
            return self.ask_room(target.to_owned());
        }
        let name = target.to_owned();
        if let Some(peer) = self.directory.online(&name).cloned() {
            return self.write_to(peer);
        }
        // Registered and offline, perhaps: the server has their key.
        if names::check(&name).is_err() {
            self.unknown(&name);
            return self.done_writing(false);
        }
        self.request(cmd::KeyQuery { name: name.clone() }, Step::Key { name });
    }

    /// Asks the server for `room`'s members and keys, to write to it.
    fn ask_room(&mut self, room: String) {
        if let Err(e) = names::check_room(&room) {
            self.say(format!("No room {room:?}: {e}."));
            return self.done_writing(false);
        }
        self.request(cmd::RoomQuery { room: room.clone() }, Step::RoomMembers { room });
    }

    /// Asks for the message to `peer`, unless their key changed and is not yet trusted.
    fn write_to(&mut self, peer: Peer) {
        if self.trust.is_blocked(&peer.name) {
            let name = &peer.name;
            let line = format!(
                "Not sending to {name}: their key changed. Type /trust {name} if you are sure."
            );
            self.say(line);
            return self.done_writing(false);
        }
        self.compose(Step::Message { to: peer });
    }

    fn at_message(&mut self, to: Peer, text: String) {
        if text.is_empty() && self.query.is_some() && self.msg.is_none() {
            return self.enter(Step::Message { to });
        }
        if text.is_empty() {
            self.say("Empty message not sent.");
            return self.done_writing(false);
        }
        if let Some(command) = menu::command_in_message(&text) {
            return self.command(command, Step::Message { to });
        }
        match self.sealer.seal(&to, &text) {
            Ok(sealed) => {
                self.talked(&to.name);
                let sealed = ClientMsg::from(sealed);
                self.request(sealed.clone(), Step::Sending { to: to.name, text, sealed, tries: 1 });
            }
            // Too long: on a terminal it is typed again at the same prompt, to be shortened,
            // rather than lost.
            Err(e @ KeyError::TextTooLong { .. }) if self.editing => {
                self.say(format!(
                    "Message not sent: {}. It is typed for you again: shorten it.",
                    Chain(&e)
                ));
                self.kept = Some(text);
                self.enter(Step::Message { to });
            }
            Err(e) => {
                self.say(format!("Message not sent: {}", Chain(&e)));
                self.done_writing(false);
            }
        }
    }

    /// Seals `text` for each member of `room` whose key we trust, and sends it.
    fn at_room_message(&mut self, room: String, members: Vec<Peer>, text: String) {
        if text.is_empty() && self.query.is_some() && self.msg.is_none() {
            return self.enter(Step::RoomMessage { room, members });
        }
        if text.is_empty() {
            self.say("Empty message not sent.");
            return self.done_writing(false);
        }
        if let Some(command) = menu::command_in_message(&text) {
            return self.command(command, Step::RoomMessage { room, members });
        }
        let (trusted, left_out): (Vec<&Peer>, Vec<&Peer>) =
            members.iter().partition(|m| !self.trust.is_blocked(&m.name));
        if !left_out.is_empty() {
            let names: Vec<String> = left_out.iter().map(|p| p.name.clone()).collect();
            self.say(rooms::left_out_line(&room, &names));
        }
        if trusted.is_empty() {
            self.say(format!("Nobody else in {room} can be written to: message not sent."));
            return self.done_writing(false);
        }
        let sealed = match self.sealer.seal_room(&room, &trusted, &text) {
            Ok(sealed) if sealed.encode().len() > wire::MAX_CLIENT_FRAME + wire::HEADER_LEN => {
                Err(format!(
                    "sealed for {} members it is over {} KiB",
                    trusted.len(),
                    wire::MAX_CLIENT_FRAME / 1024
                ))
            }
            Ok(sealed) => Ok(ClientMsg::from(sealed)),
            Err(e) => Err(Chain(&e).to_string()),
        };
        if sealed.is_ok() {
            let names: Vec<String> = trusted.iter().map(|p| p.name.clone()).collect();
            names.iter().for_each(|name| self.talked(name));
        }
        match sealed {
            Ok(sealed) => {
                self.request(sealed.clone(), Step::Sending { to: room, text, sealed, tries: 1 })
            }
            // On a terminal, typed again at the same prompt, to be shortened.
            Err(why) if self.editing => {
                self.say(format!(
                    "Message not sent: {why}. It is typed for you again: shorten it."
                ));
                self.kept = Some(text);
                self.enter(Step::RoomMessage { room, members });
            }
            Err(why) => {
                self.say(format!("Message not sent: {why}"));
                self.done_writing(false);
            }
        }
    }

    fn at_video(&mut self, line: &str, videos: Vec<VideoInfo>) {
        if line.trim_start().starts_with('/') {
            return self.command(menu::parse_command(line.trim()), Step::Video { videos });
        }
        match menu::parse_video_choice(line, &videos) {
            VideoChoice::Back => self.enter(Step::Menu),
            VideoChoice::Play { video, mode } => {
                // A stream of our own takes the player from the room's watch (the server
                // leaves the watch for us).
                self.watching = None;
                self.request(cmd::Play { video, mode }, Step::Starting)
            }
            VideoChoice::Invalid(why) => {
                if !why.is_empty() {
                    self.say(why);
                }
                self.enter(Step::Video { videos });
            }
        }
    }

    /// Tells the server we leave, then waits (a little) for it to close the connection, so
    /// everything we sent is delivered before the process exits.
    fn quit(&mut self) {
        if self.reconnecting {
            return self.out.push(Effect::Exit(0));
        }
        self.send(cmd::Quit);
        self.enter(Step::Quitting);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::peers::Directory;
    use crate::keys;
    use crate::wire::{ServerMsg, User};
    use std::time::Duration;

    fn user(name: &str, id: &Identity) -> User {
        User { name: name.into(), key: id.public_der().to_vec() }
    }

    /// `me`'s core, with `others` online; not at a terminal, and without `--reconnect`.
    fn core(me: &str, id: &Arc<Identity>, others: &[User], reconnects: bool) -> Core {
        let mut users = vec![user(me, id)];
        users.extend_from_slice(others);
        let crypto = Crypto {
            sealer: Sealer::new(id.clone(), me),
            opener: Opener::new(id.clone(), me),
            trust: Trust::new(None),
            rosters: Rosters::load(None),
        };
        Core::new(me.into(), id.clone(), Directory::new(users), crypto, false, reconnects)
    }

    fn ask(prompt: &str, words: &[&str]) -> Effect {
        let words = words.iter().map(|w| w.to_string()).collect();
        Effect::Ask { prompt: prompt.into(), words, typed: String::new() }
    }

    fn menu() -> Effect {
        Effect::AskMenu(menu::MENU.into())
    }

    fn identities() -> (Arc<Identity>, Arc<Identity>) {
        let generate = || Arc::new(Identity::generate(keys::MIN_KEY_BITS).unwrap());
        (generate(), generate())
    }

    #[test]
    fn a_name_that_looks_like_a_pinned_one_is_marked_and_churn_is_said_a_few_times() {
        let (a, b) = identities();
        let mut bob = core("bob", &b, &[user("alice", &a)], false);
        bob.start();
        // A server that lets a look-alike in: its join and its messages say whom it looks like.
        let joined = bob.on_server(ServerMsg::Joined(user("aIice", &a)));
        assert_eq!(joined, [Effect::Say("[JOINED] aIice (looks like alice)".into())]);
        let mut fake = Sealer::new(a.clone(), "aIice");
        let Ok(chat) = fake.seal(bob.directory.get("bob").unwrap(), "it's me") else { panic!() };
        let got =
            bob.on_server(ServerMsg::Chat { id: 1, from: "aIice".into(), envelope: chat.envelope });
        let line = "[CHAT] aIice (looks like alice): it's me".to_owned();
        assert_eq!(got[0], Effect::Show { line, noted: None });
        // eve joins and leaves over and over: eight lines, one word, then nothing for a while.
        let mut said = Vec::new();
        for _ in 0..6 {
            said.extend(bob.on_server(ServerMsg::Joined(user("eve", &b))));
            said.extend(bob.on_server(ServerMsg::Left { name: "eve".into() }));
        }
        let quiet = crate::client::notices::quieten_line("eve");
        let mut expected: Vec<Effect> = ["[JOINED] eve", "[LEFT] eve"]
            .repeat(4)
            .into_iter()
            .map(|l| Effect::Say(l.to_owned()))
            .collect();
        expected.push(Effect::Say(quiet));
        assert_eq!(said, expected);
    }

    #[test]
    fn a_rooms_watch_is_joined_when_told_left_with_4_and_a_stream_of_our_own_is_stopped() {
        use crate::client::player::StreamEvent;
        use crate::wire::{WatchAction, WatchEvent};
        let (a, b) = identities();
        let mut bob = core("bob", &b, &[user("alice", &a)], false);
        bob.start();
        let started = WatchEvent::Started { video: "demo".into() };
        let news =
            ServerMsg::Watch { room: "#r".into(), by: "alice".into(), event: started, at_ms: 0 };
        let watch = |action| Effect::Send(cmd::Watch { room: "#r".into(), action }.into());
        assert_eq!(
            bob.on_server(news.clone()),
            [Effect::Say("[#r] alice started demo".into()), watch(WatchAction::Attach)]
        );
        bob.on_stream(StreamEvent::Started);
        // A stream of our own takes the player (the server leaves the watch for us): 4 stops
        // it, and leaves no watch.
        bob.on_line(Some("2".into()));
        let demo = VideoInfo { name: "demo".into(), frames: 10, fps: 25.0, resolutions: vec![] };
        bob.on_server(ServerMsg::VideoList(vec![demo]));
        bob.on_line(Some("1".into()));
        bob.on_stream(StreamEvent::Started);
        assert_eq!(bob.on_line(Some("4".into()))[0], Effect::Send(cmd::Stop.into()));
        bob.on_stream(StreamEvent::Ended);
        // Watching again (/watch #r), 4 leaves the room's watch alone: it goes on for the others.
        bob.on_line(Some("/watch #r".into()));
        bob.on_stream(StreamEvent::Started);
        assert_eq!(bob.on_line(Some("4".into()))[0], watch(WatchAction::Detach));
    }

    #[test]
    fn a_message_travels_from_one_core_to_another_and_is_acked_after_its_line() {
        let (a, b) = identities();
        let mut alice = core("alice", &a, &[user("bob", &b)], false);
        let mut bob = core("bob", &b, &[user("alice", &a)], false);
        assert_eq!(alice.start(), [Effect::Send(cmd::RoomList.into()), menu()]);
        bob.start();

        let users = alice.on_line(Some("1".into()));
        assert_eq!(users.len(), 4, "{users:?}"); // the title, two users, the prompt
        assert_eq!(users[3], ask(menu::ASK_RECIPIENT, &["alice", "bob"]));
        assert_eq!(alice.on_line(Some("bob".into())), [ask(menu::ASK_MESSAGE, &[])]);
        let sent = alice.on_line(Some("hi bob".into()));
        let [Effect::Send(ClientMsg::Chat(chat))] = &sent[..] else { panic!("{sent:?}") };
        assert_eq!(chat.to, "bob");
        assert!(!alice.wants_line(), "waits for the server's answer");
        assert!(alice.deadline().is_some());
        let sent_ok = ServerMsg::Sent { to: "bob".into(), queued: false };
        assert_eq!(alice.on_server(sent_ok), [ask(menu::ASK_RECIPIENT, &["alice", "bob"])]);

        // Shown, then acknowledged: the line comes before the ACKN, in one list.
        let delivered =
            ServerMsg::Chat { id: 7, from: "alice".into(), envelope: chat.envelope.clone() };
        let line = "[CHAT] alice: hi bob".to_owned();
        assert_eq!(
            bob.on_server(delivered.clone()),
            [Effect::Show { line, noted: None }, Effect::Send(cmd::Ack { id: 7 }.into())]
        );
        // The same envelope in a later session (our ACKN was lost, so the server sent it
        // again): not shown twice, said in a word, acknowledged again.
        let back = bob.on_back(vec![user("bob", &b), user("alice", &a)]);
        assert_eq!(back, [Effect::Say("[RECONNECTED]".into())]);
        let again = [
            Effect::Say("(A message from alice shown before came again: not shown twice.)".into()),
            Effect::Send(cmd::Ack { id: 7 }.into()),
        ];
        assert_eq!(bob.on_server(delivered.clone()), again);
        // However often it comes, it is shown once.
        assert_eq!(bob.on_server(delivered), again);
    }

    #[test]
    fn an_unconfirmed_message_is_sent_once_more_then_given_up() {
        let (a, b) = identities();
        let mut alice = core("alice", &a, &[user("bob", &b)], false);
        alice.start();
        alice.on_line(Some("1".into()));
        alice.on_line(Some("bob".into()));
        let first = alice.on_line(Some("are you there".into()));
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(alice.on_timeout(Instant::now()), [], "not yet");
        let again = alice.on_timeout(later);
        assert_eq!(
            again[0],
            Effect::Say(
                "The server has not confirmed your message to bob yet; sending it again.".into()
            )
        );
        assert_eq!(again[1], first[0], "the same envelope, so bob shows it once");
        let given_up = alice.on_timeout(later);
        assert_eq!(
            given_up[0],
            Effect::Say("Error: the server did not confirm the message".into())
        );
        assert_eq!(given_up[1], ask(menu::ASK_RECIPIENT, &["alice", "bob"]));
    }

    #[test]
    fn a_lost_connection_ends_the_client_or_reconnects_and_resends() {
        let (a, b) = identities();
        let mut alone = core("alice", &a, &[], false);
        alone.start();
        assert_eq!(
            alone.on_lost(),
            [Effect::SayLast("Disconnected from server".into()), Effect::Exit(1)]
        );

        let mut alice = core("alice", &a, &[user("bob", &b)], true);
        alice.start();
        alice.on_line(Some("1".into()));
        alice.on_line(Some("bob".into()));
        let [Effect::Send(sent)] = &alice.on_line(Some("hello".into()))[..] else { panic!() };
        let sent = sent.clone();
        assert_eq!(
            alice.on_lost(),
            [
                Effect::Player(Feed::Lost),
                Effect::Say("Connection to the server lost; reconnecting...".into()),
                Effect::Reconnect
            ]
        );
        // Back, with bob still online: the message in flight goes again, the same envelope.
        let back = alice.on_back(vec![user("alice", &a), user("bob", &b)]);
        assert_eq!(back, [Effect::Say("[RECONNECTED]".into()), Effect::Send(sent)]);
        // Quitting while reconnecting ends at once: there is no server to tell.
        alice.on_lost();
        assert_eq!(alice.on_line(None), [Effect::Exit(0)]);
    }

    #[test]
    fn a_ping_is_answered_and_errors_answer_the_step_that_waits() {
        let (a, _) = identities();
        let mut alice = core("alice", &a, &[], false);
        alice.start();
        assert_eq!(alice.on_server(ServerMsg::Ping), [Effect::Send(cmd::Pong.into())]);
        alice.on_line(Some("1".into()));
        let query = alice.on_line(Some("carol".into()));
        assert_eq!(query, [Effect::Send(cmd::KeyQuery { name: "carol".into() }.into())]);
        let unknown = ServerMsg::Error { code: ErrorCode::UnknownUser, text: "no".into() };
        let answer = alice.on_server(unknown);
        assert_eq!(
            answer[0],
            Effect::Say("No user named \"carol\" is online or registered.".into())
        );
        assert_eq!(answer.last(), Some(&ask(menu::ASK_RECIPIENT, &["alice"])));
        // An error nobody waits for is only said.
        let stray = ServerMsg::Error { code: ErrorCode::UnknownVideo, text: "late".into() };
        assert_eq!(alice.on_server(stray), [Effect::Say("Error: late".into())]);
    }

    /// The change a core sent, if its first effect sends one.
    fn sent_change(effects: &[Effect]) -> Vec<u8> {
        match effects.first() {
            Some(Effect::Send(ClientMsg::RoomChange(cmd::RoomChange { change }))) => change.clone(),
            other => panic!("no change sent: {other:?}"),
        }
    }

    #[test]
    fn a_room_is_made_joined_by_invitation_and_sealed_for_the_members_alice_checked() {
        use crate::roster::{GENESIS, hash_of};
        let (a, b) = identities();
        let mallory = identities().0;
        let (room, say) = ("#s".to_owned(), |l: &str| Effect::Say(l.into()));
        let mut alice = core("alice", &a, &[user("bob", &b)], false);
        let mut bob = core("bob", &b, &[user("alice", &a)], false);
        // A new room: alice asks for its changes, gets none, signs its first.
        let join = cmd::RoomJoin { room: room.clone(), since: GENESIS };
        assert_eq!(alice.on_line(Some("/join #s".into())), [Effect::Send(join.into())]);
        let create = sent_change(
            &alice.on_server(ServerMsg::RoomLog { room: room.clone(), changes: vec![] }),
        );
        let back = alice.on_server(ServerMsg::RoomChange { change: create.clone() });
        assert_eq!(back, [say("Joined #s (members: alice)"), menu()]);
        // She invites bob; his core, which holds no chain of #s, catches up first.
        let invite = sent_change(&alice.on_line(Some("/invite #s bob".into())));
        let back = alice.on_server(ServerMsg::RoomChange { change: invite.clone() });
        assert_eq!(back, [say("Invited bob to #s: they join with /join #s"), menu()]);
        let catch_up = cmd::RoomJoin { room: room.clone(), since: GENESIS };
        assert_eq!(
            bob.on_server(ServerMsg::RoomChange { change: invite.clone() }),
            [Effect::Send(catch_up.into())]
        );
        let log = ServerMsg::RoomLog { room: room.clone(), changes: vec![create, invite.clone()] };
        assert_eq!(bob.on_server(log), [say("alice invited you to #s: /join #s to accept")]);
        // bob accepts.
        let since = hash_of(&invite);
        let join = cmd::RoomJoin { room: room.clone(), since };
        assert_eq!(bob.on_line(Some("/join #s".into())), [Effect::Send(join.into())]);
        let accept =
            sent_change(&bob.on_server(ServerMsg::RoomLog { room: room.clone(), changes: vec![] }));
        let back = bob.on_server(ServerMsg::RoomChange { change: accept.clone() });
        assert_eq!(back, [say("Joined #s (members: alice, bob)"), menu()]);
        let told = alice.on_server(ServerMsg::RoomChange { change: accept });
        assert_eq!(told, [say("[#s] bob joined (invited by alice)")]);
        // alice writes to #s; the server says mallory is a member too. She is left out.
        alice.on_line(Some("1".into()));
        let asked = alice.on_line(Some("#s".into()));
        assert_eq!(asked, [Effect::Send(cmd::RoomQuery { room: room.clone() }.into())]);
        let members = vec![user("alice", &a), user("bob", &b), user("mallory", &mallory)];
        let checked = alice.on_server(ServerMsg::RoomInfo { room, members });
        assert_eq!(
            checked[0],
            say("WARNING: the server lists mallory in #s, but no member invited them: left out.")
        );
        let sealed = alice.on_line(Some("hi".into()));
        let Some(Effect::Send(ClientMsg::RoomChat(chat))) = sealed.first() else {
            panic!("{sealed:?}")
        };
        let for_whom: Vec<&str> = chat.envelopes.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(for_whom, ["bob"]);
    }

    #[test]
    fn a_refusal_while_asking_for_a_key_says_its_real_cause() {
        let (a, _) = identities();
        let mut alice = core("alice", &a, &[], false);
        alice.start();
        alice.on_line(Some("1".into()));
        let asked = alice.on_line(Some("bob".into()));
        assert_eq!(asked, [Effect::Send(cmd::KeyQuery { name: "bob".into() }.into())]);
        let text = "too many requests: at most 20 a second".to_owned();
        let said = alice.on_server(ServerMsg::Error { code: ErrorCode::RateLimited, text });
        assert_eq!(said[0], Effect::Say("Error: too many requests: at most 20 a second".into()));
        // And an unknown name is said as such.
        alice.on_line(Some("carol".into()));
        let text = "no user named \"carol\"".to_owned();
        let said = alice.on_server(ServerMsg::Error { code: ErrorCode::UnknownUser, text });
        assert_eq!(said[0], Effect::Say("No user named \"carol\" is online or registered.".into()));
    }

    #[test]
    fn a_wait_for_a_rooms_members_ends_and_comes_back_to_the_prompt() {
        // The server died while alice waited for #s's members (with --reconnect): the wait
        // ends at its deadline, once, and she is asked again; nothing spins.
        let (a, _) = identities();
        let mut alice = core("alice", &a, &[], true);
        alice.start();
        alice.on_line(Some("1".into()));
        alice.on_line(Some("#s".into()));
        assert!(alice.deadline().is_some());
        assert_eq!(alice.on_lost().last(), Some(&Effect::Reconnect));
        let later = Instant::now() + Duration::from_secs(3600);
        let ended = alice.on_timeout(later);
        assert_eq!(ended[0], Effect::Say("The server did not answer about #s.".into()));
        assert_eq!(ended[1], ask(menu::ASK_RECIPIENT, &["alice"]));
        assert_eq!(alice.deadline(), None);
        assert_eq!(alice.on_timeout(later), []);
    }
}
