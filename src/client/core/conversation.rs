//! Writing to someone without the recipient prompt, as IRC clients do: `/msg NAME text` (or
//! `/msg #room text`) at any prompt sends at once and comes back to that prompt; `/query NAME`
//! stays in a conversation, asking only for messages, until `/query` alone ends it and goes
//! back to the prompt it was started at.
//!
//! Both go through the same steps as the recipient prompt (the key, or the room's members,
//! then the message, then the server's answer): they only change where a step goes next,
//! in [`Core::compose`] and [`Core::done_writing`].

use super::{Core, Step};
use crate::client::menu;

/// A `/msg` on its way: its text, and the step it was typed at.
pub(super) struct Msg {
    text: String,
    back: Step,
}

impl Core {
    /// `/msg TARGET TEXT`, typed at `back`.
    pub(super) fn msg(&mut self, target: String, text: String, back: Step) {
        self.msg = Some(Msg { text, back });
        self.write_to_target(&target);
    }

    /// `/query TARGET` (or `/query` alone, to end the one going on), typed at `back`.
    pub(super) fn query(&mut self, target: Option<String>, back: Step) {
        match target {
            Some(target) => {
                self.say(format!(
                    "Talking with {target}: each line is a message; /query alone ends it."
                ));
                // A conversation started inside another goes back to where that one began.
                let back = match self.query.take() {
                    Some((_, first)) => first,
                    None => back,
                };
                self.query = Some((target.clone(), back));
                self.write_to_target(&target);
            }
            None => match self.query.take() {
                Some((target, first)) => {
                    self.say(format!("No longer talking with {target}."));
                    self.enter(first);
                }
                None => {
                    self.say("No conversation to end (/query NAME starts one).");
                    self.enter(back);
                }
            },
        }
    }

    /// The message step for the target chosen: with a `/msg`'s text, that text goes at once;
    /// otherwise its prompt.
    pub(super) fn compose(&mut self, step: Step) {
        // The text is taken; the `/msg` stays, for `done_writing` to go back where it was typed.
        let Some(text) = self.msg.as_mut().map(|m| std::mem::take(&mut m.text)) else {
            return self.enter(step);
        };
        match step {
            Step::Message { to } => self.at_message(to, text),
            Step::RoomMessage { room, members } => self.at_room_message(room, members, text),
            other => self.enter(other),
        }
    }

    /// Where writing goes next, once a message was sent (`sent`) or could not be: back to
    /// the prompt a `/msg` was typed at; on in a conversation (`/query`), unless it failed;
    /// else the recipient prompt.
    pub(super) fn done_writing(&mut self, sent: bool) {
        if let Some(Msg { back, .. }) = self.msg.take() {
            return self.enter(back);
        }
        match self.query.take() {
            Some((target, first)) if sent => {
                self.query = Some((target.clone(), first));
                self.write_to_target(&target);
            }
            Some((target, first)) => {
                self.say(format!("No longer talking with {target}."));
                self.enter(first);
            }
            None => self.enter(Step::Recipient),
        }
    }

    /// What Tab completes after a command: the names known, and our rooms.
    pub fn arg_words(&self) -> Vec<String> {
        let mut words: Vec<String> =
            self.directory.peers().iter().map(|p| p.name.clone()).collect();
        words.extend(self.room_names());
        words
    }

    /// The prompt for a message: says who it goes to while in a conversation.
    pub(super) fn message_prompt(&self) -> String {
        match &self.query {
            Some((target, _)) => format!("Message to {target} (/query alone ends) : "),
            None => menu::ASK_MESSAGE.to_owned(),
        }
    }
}
