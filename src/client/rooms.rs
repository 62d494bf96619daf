//! What the terminal client says about rooms: the lines it prints when one is joined or left,
//! when a member comes or goes, when a room message arrives, and the `/rooms` list. Pure:
//! names in, lines out; the session (`session.rs`) prints them.

use crate::client::rosters::Applied;
use crate::roster::Action;

/// `[#study] alice: text` (`[#study] [UNTRUSTED] alice: text` while alice's changed key is not
/// trusted).
pub fn chat_line(room: &str, from: &str, text: &str, untrusted: bool) -> String {
    let mark = if untrusted { "[UNTRUSTED] " } else { "" };
    format!("[{room}] {mark}{from}: {text}")
}

/// `Joined #study (members: alice, bob)`.
pub fn joined_line(room: &str, members: &[String]) -> String {
    format!("Joined {room} (members: {})", members.join(", "))
}

/// What a change checked in a room's chain says, for `me`: `[#study] carol joined (invited
/// by alice)`, `alice invited you to #study: ...`. `None` for what `me` did and is said
/// otherwise (making a room, joining it: `Joined ...`).
pub fn change_line(applied: &Applied, me: &str) -> Option<String> {
    let Applied { change, before } = applied;
    let room = if before.is_empty() { change.room.as_str() } else { before.room() };
    let (by, subject) = (&change.by, &change.subject);
    let mine = subject.eq_ignore_ascii_case(me);
    Some(match change.action {
        Action::Create | Action::Join if mine => return None,
        Action::Create => format!("[{room}] {by} made the room"),
        Action::Invite if mine => {
            format!("{by} invited you to {room}: /join {room} to accept")
        }
        Action::Invite if by.eq_ignore_ascii_case(me) => {
            format!("Invited {subject} to {room}: they join with /join {room}")
        }
        Action::Invite => format!("[{room}] {by} invited {subject}"),
        Action::Join => {
            let inviter = before.invitation(subject).and_then(|s| s.invited_by.clone());
            format!("[{room}] {subject} joined (invited by {})", inviter.unwrap_or_default())
        }
        Action::Leave if mine => format!("Left {room}"),
        Action::Leave => format!("[{room}] {subject} left"),
        Action::Remove if mine => format!("{by} removed you from {room}"),
        Action::Remove if by.eq_ignore_ascii_case(me) => format!("Removed {subject} from {room}"),
        Action::Remove => format!("[{room}] {by} removed {subject}"),
        Action::Expire if mine => format!("Your seat in {room} ended with your name"),
        Action::Expire => format!("[{room}] {subject} left (their name was released)"),
    })
}

/// The `/rooms` answer: each room with its members, those online (`online`) marked, and us.
pub fn list_lines(
    rooms: &[(String, Vec<String>)],
    me: &str,
    online: impl Fn(&str) -> bool,
) -> Vec<String> {
    if rooms.is_empty() {
        return vec![
            "You are in no room. /join #NAME makes one; a member's /invite lets you into theirs."
                .into(),
        ];
    }
    let mut lines = vec!["Your rooms (* online):".to_owned()];
    for (room, members) in rooms {
        let shown: Vec<String> = members
            .iter()
            .map(|m| match (m.eq_ignore_ascii_case(me), online(m)) {
                (true, _) => format!("{m} (you)"),
                (false, true) => format!("{m}*"),
                (false, false) => m.clone(),
            })
            .collect();
        lines.push(format!("  {room}: {}", shown.join(", ")));
    }
    lines
}

/// Who a room message was not sealed for because their key changed and is not trusted.
pub fn left_out_line(room: &str, names: &[String]) -> String {
    let trust: Vec<String> = names.iter().map(|n| format!("/trust {n}")).collect();
    format!(
        "Not sealed for {} in {room}: their key changed ({} if you are sure).",
        names.join(", "),
        trust.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_lines_read_as_the_readme_shows_them() {
        assert_eq!(chat_line("#study", "alice", "hi", false), "[#study] alice: hi");
        assert_eq!(chat_line("#study", "bob", "hi", true), "[#study] [UNTRUSTED] bob: hi");
        let members = vec!["alice".to_owned(), "bob".to_owned()];
        assert_eq!(joined_line("#study", &members), "Joined #study (members: alice, bob)");
        let rooms = vec![("#study".to_owned(), vec!["alice".into(), "bob".into(), "me".into()])];
        assert_eq!(
            list_lines(&rooms, "me", |m| m == "alice"),
            ["Your rooms (* online):", "  #study: alice*, bob, me (you)"]
        );
        assert!(list_lines(&[], "me", |_| false)[0].starts_with("You are in no room."));
        assert_eq!(
            left_out_line("#study", &["bob".into()]),
            "Not sealed for bob in #study: their key changed (/trust bob if you are sure)."
        );
    }
}
