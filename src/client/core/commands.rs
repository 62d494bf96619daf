//! The slash commands (`/trust`, `/verify`; the room commands are `membership.rs`'s), and the
//! checks of a user's key against the one pinned for them.

use super::{Core, Step};
use crate::client::menu::{self, Command};
use crate::client::notices::{self, Notice};
use crate::client::peers::Seen;
use crate::keys;
use crate::report::Chain;

impl Core {
    /// Checks a user's key against the one pinned for them, and warns, so it cannot be
    /// missed, if it changed.
    pub(super) fn check_key(&mut self, name: &str) {
        let Some(peer) = self.directory.get(name) else { return };
        if name.eq_ignore_ascii_case(&self.me) {
            return;
        }
        let key = peer.key.clone();
        match self.trust.see(name, &key) {
            Ok(Seen::Changed { pinned }) => {
                let now = keys::full_fingerprint(&key);
                menu::key_changed_lines(name, &pinned, &now).into_iter().for_each(|l| self.say(l));
            }
            // Nobody's messages to protect: said in a line, and taken.
            Ok(Seen::Replaced) => self.say(format!(
                "[KEY] {name} has a new key {}; you never exchanged messages with {name}.",
                keys::fingerprint(&key)
            )),
            Ok(Seen::First | Seen::Same) => {}
            Err(e) => self.say(format!("Cannot save {name}'s key: {}", Chain(&e))),
        }
    }

    /// A join or leave about `name`, said unless that name churns (`notices.rs`).
    pub(super) fn notice(&mut self, name: &str, line: String) {
        match self.notices.allow(name, std::time::Instant::now()) {
            Notice::Show => self.say(line),
            Notice::Quieten => self.say(notices::quieten_line(name)),
            Notice::Hide => {}
        }
    }

    /// `name` as shown on a line: marked if it looks like another name pinned here (a server
    /// that does not refuse look-alikes could pass `aIice` off as `alice`).
    pub(super) fn shown_name(&self, name: &str) -> String {
        match self.trust.looks_like(name) {
            Some(pinned) => format!("{name} (looks like {pinned})"),
            None => name.to_owned(),
        }
    }

    /// A message went to or came from `name`: a change of their key is warned about from now
    /// on (`Trust::talked`).
    pub(super) fn talked(&mut self, name: &str) {
        if let Err(e) = self.trust.talked(name) {
            self.say(format!("Cannot save {name}'s key: {}", Chain(&e)));
        }
    }

    /// `/trust NAME`, `/verify NAME`, the room commands, or what the commands are; then
    /// `back`, the step it was typed at (after the server's answer, for a room command).
    pub(super) fn command(&mut self, command: Command, back: Step) {
        match command {
            Command::Msg(target, text) => return self.msg(target, text, back),
            Command::Watch(room, watch) => return self.watch_command(room, watch, back),
            Command::Query(target) => return self.query(target, back),
            Command::Usage(usage) => {
                self.say(usage);
                return self.enter(back);
            }
            _ => {}
        }
        if let Command::Join(_)
        | Command::Leave(_)
        | Command::Invite(..)
        | Command::Kick(..)
        | Command::Rooms = command
        {
            return self.room_command(command, back);
        }
        self.key_command(command);
        self.enter(back);
    }

    /// `/trust NAME`, `/verify NAME`, or what the commands are.
    fn key_command(&mut self, command: Command) {
        let (Command::Trust(name) | Command::Verify(name)) = &command else {
            return self.say(menu::COMMANDS_HELP);
        };
        let Some(key) = self.directory.get(name).map(|p| p.key.clone()) else {
            return self.say(format!("No key is known for {name:?}."));
        };
        if let Command::Verify(_) = command {
            // Compared in person, the key is one to be warned about if it changes.
            self.talked(name);
            let number = keys::safety_number(self.identity.public_der(), &key);
            self.say(format!(
                "Safety number for you and {name} (the same on both screens if nobody swapped keys):"
            ));
            return self.say(format!("  {number}"));
        }
        match self.trust.trust(name, &key) {
            Ok(()) => self.say(format!("You now trust {name}'s key {}.", keys::fingerprint(&key))),
            Err(e) => self.say(format!("Cannot save the key: {}", Chain(&e))),
        }
    }

    pub(super) fn unknown(&mut self, name: &str) {
        self.say(format!("No user named {name:?} is online or registered."));
        self.print_users();
    }

    pub(super) fn print_users(&mut self) {
        let trust = &self.trust;
        let lines =
            menu::user_lines(self.directory.peers(), &self.me, |name| trust.is_blocked(name));
        lines.into_iter().for_each(|l| self.say(l));
    }
}
