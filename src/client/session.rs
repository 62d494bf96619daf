//! The terminal client's session, on the `send_chat` thread: the shell around the client's
//! state machine (`core.rs`). It waits on three channels at once (lines from the `input`
//! thread, messages from the `recv_chat` thread, events from the `stream` thread), hands each
//! to the core, and carries out what the core returns, in order: print, send, ask, play,
//! reconnect, exit. It decides nothing itself.
//!
//! (The original's `send_chat` thread read what the user typed and sent it; this one still
//! sends everything the user does, and also owns the state that decides it.)

use crossbeam_channel::{Receiver, Sender, never, select};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::core::{Core, Crypto, Effect};
use super::input::Input;
use super::link::{self, LinkReader, LinkWriter, Rejoin, Relinked};
use super::peers::Directory;
use super::player::{Feed, StreamEvent};
use super::screen;
use crate::cmd::ClientMsg;
use crate::keys::Identity;
use crate::report::Chain;
use crate::say;
use crate::wire::{ReadError, ServerMsg};

/// What the `recv_chat` thread (and a `reconnect` thread) hand the session.
pub enum Incoming {
    Msg(ServerMsg),
    /// The connection is gone; `recv_chat` waits for a new one (`--reconnect`) or the end.
    Lost(ReadError),
    /// A new connection, joined as the same user (`--reconnect`).
    Back(Box<Relinked>),
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

/// The core, and the channels that carry its events in and its effects out.
pub struct Session {
    core: Core,
    me: String,
    identity: Arc<Identity>,
    /// `--reconnect`: the server to join again when the connection is lost.
    reconnect: Option<Rejoin>,
    links: Links,
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
        let (editing, reconnects) = (links.input.editing(), reconnect.is_some());
        let core = Core::new(me.clone(), identity.clone(), directory, crypto, editing, reconnects);
        Session { core, me, identity, reconnect, links, done: false }
    }

    /// The `send_chat` thread: the core's start, then whatever comes first, until the client
    /// is done.
    pub fn run(mut self) {
        let effects = self.core.start();
        self.carry(effects);
        let (lines, incoming) = (self.links.input.lines().clone(), self.links.incoming.clone());
        let mut events = self.links.events.clone();
        while !self.done {
            let wanted = if self.core.wants_line() { lines.clone() } else { never() };
            let wait = self
                .core
                .deadline()
                .map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            let effects = select! {
                recv(wanted) -> line => self.core.on_line(line.unwrap_or(None)),
                recv(incoming) -> msg => match msg {
                    Ok(Incoming::Msg(msg)) => self.core.on_server(msg),
                    Ok(Incoming::Lost(e)) => {
                        if !matches!(e, ReadError::Closed) {
                            log::debug!("connection lost: {}", Chain(&e));
                        }
                        self.core.on_lost()
                    }
                    Ok(Incoming::Back(relinked)) => self.on_back(*relinked),
                    Err(_) => vec![Effect::Exit(1)],
                },
                recv(events) -> event => match event {
                    Ok(event) => self.core.on_stream(event),
                    Err(_) => {
                        events = never();
                        Vec::new()
                    }
                },
                default(wait) => self.core.on_timeout(Instant::now()),
            };
            self.carry(effects);
        }
    }

    /// Carries out the core's effects, in the order given.
    fn carry(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Say(line) => say!("{line}"),
                // Noted as printing right before the line goes out, as printed once it is
                // written (`seen.rs`); the acknowledgement follows.
                Effect::Show { line, noted } => {
                    let line = screen::line(format_args!("{line}"));
                    match noted {
                        Some(noted) => {
                            let first = noted.clone();
                            screen::print_shown(&line, move || first.printing());
                            screen::after_printed(move || noted.printed());
                        }
                        None => screen::print_line(&line),
                    }
                }
                Effect::SayLast(line) => screen::say_last(format_args!("{line}")),
                // Shown, then acknowledged: once the lines said before it are written out.
                Effect::Send(ClientMsg::Ack(ack)) => {
                    let writer = self.links.writer.clone();
                    screen::after_printed(move || drop(writer.send(&ack)));
                }
                // A send that fails is a lost connection: `recv_chat` reports it.
                Effect::Send(msg) => {
                    let _ = self.links.writer.send(&msg);
                }
                Effect::Ask { prompt, words, typed } => {
                    self.links.input.set_args(self.core.arg_words());
                    self.links.input.ask(&prompt, words, &typed)
                }
                Effect::AskMenu(menu) => {
                    self.links.input.set_args(self.core.arg_words());
                    self.links.input.ask_menu(&menu)
                }
                // Bounded: a player that falls behind holds back reading from the server.
                Effect::Player(feed) => {
                    let _ = self.links.player.send(feed);
                }
                Effect::Reconnect => self.reconnect(),
                Effect::Exit(code) => self.exit(code),
            }
        }
    }

    /// Joins again in the background, on a `reconnect` thread; it hands back `Back`.
    fn reconnect(&mut self) {
        let Some(server) = self.reconnect.clone() else { return self.exit(1) };
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
    /// `recv_chat` reads from it.
    fn on_back(&mut self, relinked: Relinked) -> Vec<Effect> {
        let Relinked { reader, writer, joined } = relinked;
        self.links.writer.take_over(&writer);
        let effects = self.core.on_back(joined.directory);
        let _ = self.links.readers.send(reader);
        effects
    }

    fn exit(&mut self, code: i32) {
        // 128 + SIGINT: what a shell expects of a program the user stopped with Ctrl-C.
        let code = if code == 0 && super::input::interrupted() { 130 } else { code };
        let _ = self.links.exit.send(code);
        self.done = true;
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
