//! What the terminal client asks and how it reads the answers: the menus and prompts as
//! text, and each typed line parsed into what the user meant. Pure: lines in, choices and
//! lines to print out; tested without sockets. The session (`session.rs`) acts on them.

use super::peers::Peer;
use crate::wire::{PlayMode, SeekTo, VideoInfo, WatchAction};

pub const ASK_NAME: &str = "Enter your username : ";
/// The name rules (`names::check`), as a refusal reminds the user of them.
pub const NAME_RULES: &str =
    "names are 1-32 letters, digits, _ . - and start with a letter, digit or _";
pub const ASK_RECIPIENT: &str = "Enter recipient (QUIT to go back) : ";
pub const ASK_MESSAGE: &str = "Enter message : ";
pub const ASK_VIDEO: &str =
    "Enter video number or name, optionally a resolution (QUIT to go back) : ";
pub const MENU: &str = "1. CHAT  2. STREAM  3. QUIT";
pub const MENU_STREAMING: &str = "1. CHAT  2. STREAM  3. QUIT  4. STOP";

/// The home menu as it reads now.
pub fn menu(streaming: bool) -> &'static str {
    if streaming { MENU_STREAMING } else { MENU }
}

/// A line typed at the home menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuChoice {
    Chat,
    Stream,
    Quit,
    /// `4` or `q`: stop the stream playing.
    Stop,
    /// A line starting with `/`.
    Command(Command),
    /// An empty line: the menu again.
    Nothing,
    /// Anything else; the text says what to type instead.
    Unknown(String),
}

/// Reads a line typed at the home menu; `streaming` says whether `4. STOP` is offered.
pub fn parse_menu(line: &str, streaming: bool) -> MenuChoice {
    match line.trim() {
        "1" => MenuChoice::Chat,
        "2" => MenuChoice::Stream,
        // QUIT, as at the prompts, leaves too.
        "3" => MenuChoice::Quit,
        quit if quit.eq_ignore_ascii_case("QUIT") => MenuChoice::Quit,
        "4" | "q" | "Q" => MenuChoice::Stop,
        "" => MenuChoice::Nothing,
        command if command.starts_with('/') => MenuChoice::Command(parse_command(command)),
        other if streaming => {
            MenuChoice::Unknown(format!("Unknown choice {other:?}: enter 1, 2, 3 or 4."))
        }
        other => MenuChoice::Unknown(format!("Unknown choice {other:?}: enter 1, 2 or 3.")),
    }
}

/// A command, typed at the menu or at the recipient prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/trust NAME`: accept NAME's new key.
    Trust(String),
    /// `/verify NAME`: the safety number for NAME and us.
    Verify(String),
    /// `/join #ROOM`: join a room, making it if it is new.
    Join(String),
    /// `/leave #ROOM` (or decline its invitation).
    Leave(String),
    /// `/invite #ROOM NAME`: let NAME join (signed by us).
    Invite(String, String),
    /// `/kick #ROOM NAME`: take NAME out (whom we invited).
    Kick(String, String),
    /// `/rooms`: the rooms we are in, with their members.
    Rooms,
    /// `/msg NAME TEXT` or `/msg #ROOM TEXT`: sent at once, from any prompt.
    Msg(String, String),
    /// `/query NAME` (or `#ROOM`): each line a message to it, until `/query` alone.
    Query(Option<String>),
    /// `/watch`, `/pause`, `/play`, `/seek`: a room's watch.
    Watch(String, WatchAction),
    /// A known command with the wrong arguments: how it is used.
    Usage(&'static str),
    /// Anything else: what the commands are.
    Help,
}

pub const COMMANDS_HELP: &str = "Commands: /msg NAME TEXT (or #ROOM), /query NAME (or #ROOM; \
     /query alone ends it), /trust NAME (accept NAME's new key), /verify NAME (safety number), \
     /join #ROOM, /leave #ROOM, /invite #ROOM NAME, /kick #ROOM NAME, /rooms (your rooms and \
     their members), /watch #ROOM VIDEO (play it for the room; /pause, /play, /seek #ROOM M:SS, \
     /watch #ROOM stop).";

/// `/watch #ROOM ...` after the room: `stop`, nothing (take part), or a video, with a
/// resolution or `auto` as its last word if it reads as one.
fn parse_watch(room: &str, args: &[&str]) -> Command {
    let watch = |w| Command::Watch(room.to_owned(), w);
    match args {
        [] => watch(WatchAction::Attach),
        ["stop"] => watch(WatchAction::Stop),
        [name @ .., last] if !name.is_empty() && is_resolution(last) => {
            let mode = match *last {
                "auto" => PlayMode::Auto,
                label => PlayMode::Fixed(label.to_owned()),
            };
            watch(WatchAction::Start { video: name.join(" "), mode })
        }
        words => watch(WatchAction::Start { video: words.join(" "), mode: PlayMode::Split }),
    }
}

/// `auto`, or a label such as `360p`.
fn is_resolution(word: &str) -> bool {
    word == "auto"
        || word
            .strip_suffix('p')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `1:30`, `1:02:03` (a time) or `450` (a frame).
fn parse_seek(to: &str) -> Option<SeekTo> {
    if !to.contains(':') {
        return to.parse().ok().map(SeekTo::Frame);
    }
    let mut seconds: u32 = 0;
    for part in to.split(':') {
        seconds = seconds.checked_mul(60)?.checked_add(part.parse().ok()?)?;
    }
    seconds.checked_mul(1000).map(SeekTo::Millis)
}

/// Each command and how it is used, for Tab and for a usage error.
pub const COMMANDS: &[(&str, &str)] = &[
    ("/msg", "Usage: /msg NAME TEXT, or /msg #ROOM TEXT"),
    ("/query", "Usage: /query NAME, /query #ROOM, or /query alone to end"),
    ("/trust", "Usage: /trust NAME"),
    ("/verify", "Usage: /verify NAME"),
    ("/join", "Usage: /join #ROOM"),
    ("/leave", "Usage: /leave #ROOM"),
    ("/invite", "Usage: /invite #ROOM NAME"),
    ("/kick", "Usage: /kick #ROOM NAME"),
    ("/rooms", "Usage: /rooms"),
    ("/watch", "Usage: /watch #ROOM VIDEO [RES|auto], /watch #ROOM stop, or /watch #ROOM"),
    ("/pause", "Usage: /pause #ROOM"),
    ("/play", "Usage: /play #ROOM"),
    ("/seek", "Usage: /seek #ROOM M:SS, or a frame number"),
];

pub fn parse_command(line: &str) -> Command {
    let line = line.trim();
    let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let args: Vec<&str> = rest.split_whitespace().collect();
    let own = |s: &str| s.to_owned();
    match (verb, args.as_slice()) {
        ("/rooms", []) => Command::Rooms,
        // The text is the rest of the line, its spaces kept.
        ("/msg", [target, _, ..]) => Command::Msg(own(target), own(rest[target.len()..].trim())),
        ("/query", []) => Command::Query(None),
        ("/query", [target]) => Command::Query(Some(own(target))),
        ("/trust", [name]) => Command::Trust(own(name)),
        ("/verify", [name]) => Command::Verify(own(name)),
        ("/join", [room]) => Command::Join(own(room)),
        ("/leave", [room]) => Command::Leave(own(room)),
        ("/invite", [room, name]) => Command::Invite(own(room), own(name)),
        ("/kick", [room, name]) => Command::Kick(own(room), own(name)),
        ("/watch", [room, rest @ ..]) if room.starts_with('#') => parse_watch(room, rest),
        ("/pause", [room]) if room.starts_with('#') => {
            Command::Watch(own(room), WatchAction::Pause)
        }
        ("/play", [room]) if room.starts_with('#') => Command::Watch(own(room), WatchAction::Play),
        ("/seek", [room, to]) if room.starts_with('#') => match parse_seek(to) {
            Some(to) => Command::Watch(own(room), WatchAction::Seek(to)),
            None => usage(verb),
        },
        _ => usage(verb),
    }
}

/// How `verb` is used, if it is a command; else what the commands are.
fn usage(verb: &str) -> Command {
    match COMMANDS.iter().find(|(known, _)| *known == verb) {
        Some((_, usage)) => Command::Usage(usage),
        None => Command::Help,
    }
}

/// A command typed at a message prompt: only a whole, known one (`/rooms`, `/join #x`...); any
/// other text, `/` or not, is a message.
pub fn command_in_message(text: &str) -> Option<Command> {
    Some(parse_command(text.trim()))
        .filter(|c| text.trim_start().starts_with('/') && *c != Command::Help)
}

/// A line typed at the recipient prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientChoice {
    /// `QUIT`, in any case: back to the menu.
    Back,
    Command(Command),
    /// An empty line: ask again.
    Nothing,
    Name(String),
    /// `#room`: write to every member of a room we are in.
    Room(String),
}

pub fn parse_recipient(line: &str) -> RecipientChoice {
    match line.trim() {
        "" => RecipientChoice::Nothing,
        quit if quit.eq_ignore_ascii_case("QUIT") => RecipientChoice::Back,
        command if command.starts_with('/') => RecipientChoice::Command(parse_command(command)),
        room if room.starts_with('#') => RecipientChoice::Room(room.to_owned()),
        name => RecipientChoice::Name(name.to_owned()),
    }
}

/// `Online users:` and one line per user, with their key's short fingerprint; a user whose
/// key changed and is not trusted yet (`untrusted`) is marked, with what ends it.
pub fn user_lines(peers: &[Peer], me: &str, untrusted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = vec!["Online users:".to_owned()];
    for peer in peers {
        let name = &peer.name;
        let mark = if name.eq_ignore_ascii_case(me) {
            " (you)".to_owned()
        } else if untrusted(name) {
            format!(" UNTRUSTED: key changed (/verify {name}, then /trust {name})")
        } else {
            String::new()
        };
        lines.push(format!("  {name}  [{}]{mark}", peer.fingerprint));
    }
    lines
}

/// How a message prints: `[CHAT] bob: text`, or `[UNTRUSTED] bob: text` while bob's key has
/// changed and is not trusted (it may not be bob).
pub fn chat_line(from: &str, text: &str, untrusted: bool) -> String {
    let tag = if untrusted { "UNTRUSTED" } else { "CHAT" };
    format!("[{tag}] {from}: {text}")
}

/// The warning, in three lines, when a user's key is not the one pinned for them (full
/// fingerprints, of which the first 16 digits are shown).
pub fn key_changed_lines(name: &str, pinned: &str, now: &str) -> [String; 3] {
    let short = |fp: &str| fp.chars().take(16).collect::<String>();
    [
        format!(
            "WARNING: {name}'s key has CHANGED: it was {}..., it is now {}...",
            short(pinned),
            short(now)
        ),
        format!(
            "WARNING: someone may be posing as {name}. Nothing is sent to {name} until you type /trust {name}"
        ),
        format!("WARNING: (compare /verify {name} with them, in person or on a call, first)."),
    ]
}

/// What the user asked for at the video prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoChoice {
    Back,
    Play { video: String, mode: PlayMode },
    Invalid(String),
}

/// Reads `NUMBER|NAME [LABEL]`: a 1-based index or a name, and optionally one resolution to
/// play the whole video at (otherwise the timeline is split across all of them).
pub fn parse_video_choice(line: &str, videos: &[VideoInfo]) -> VideoChoice {
    let line = line.trim();
    if line.is_empty() {
        return VideoChoice::Invalid(String::new());
    }
    if line.eq_ignore_ascii_case("QUIT") {
        return VideoChoice::Back;
    }
    // Names may hold spaces (`my trip_720p.mp4` is "my trip"): the whole line first, then all
    // but its last word, which is then a resolution.
    if let Some(video) = find_video(videos, line) {
        return VideoChoice::Play { video: video.name.clone(), mode: PlayMode::Split };
    }
    let (first, label) = match line.rsplit_once(char::is_whitespace) {
        Some((rest, last)) => (rest.trim_end(), Some(last)),
        None => (line, None),
    };
    let video = match first.parse::<usize>() {
        Ok(n) if (1..=videos.len()).contains(&n) => &videos[n - 1],
        Ok(_) => {
            return VideoChoice::Invalid(format!("Enter a number from 1 to {}.", videos.len()));
        }
        Err(_) => match find_video(videos, first) {
            Some(v) => v,
            None => return VideoChoice::Invalid(format!("No video named {first:?}.")),
        },
    };
    // `360p`, `360P` or `360`: the height is what counts.
    let same_label = |have: &str, typed: &str| {
        have.eq_ignore_ascii_case(typed) || have.strip_suffix('p') == Some(typed)
    };
    let mode = match label {
        None => PlayMode::Split,
        Some(auto) if auto.eq_ignore_ascii_case("auto") => PlayMode::Auto,
        Some(label) => match video.resolutions.iter().find(|r| same_label(&r.label, label)) {
            Some(r) => PlayMode::Fixed(r.label.clone()),
            None => {
                let have: Vec<&str> = video.resolutions.iter().map(|r| r.label.as_str()).collect();
                return VideoChoice::Invalid(format!(
                    "{} has no {:?} resolution; it has {}.",
                    video.name,
                    label,
                    have.join(", ")
                ));
            }
        },
    };
    VideoChoice::Play { video: video.name.clone(), mode }
}

/// The video named `name`: exactly, or else ignoring case if only one is named so.
fn find_video<'v>(videos: &'v [VideoInfo], name: &str) -> Option<&'v VideoInfo> {
    if let Some(exact) = videos.iter().find(|v| v.name == name) {
        return Some(exact);
    }
    let mut alike = videos.iter().filter(|v| v.name.eq_ignore_ascii_case(name));
    match (alike.next(), alike.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// One line per video: number, name, resolutions (with the real size where it differs from
/// the label) and length.
pub fn video_lines(videos: &[VideoInfo]) -> Vec<String> {
    videos
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let res: Vec<String> = v
                .resolutions
                .iter()
                .map(|r| {
                    let promised = r.label.trim_end_matches('p').parse::<u16>().ok();
                    if promised == Some(r.height) {
                        r.label.clone()
                    } else {
                        format!("{} (really {}x{})", r.label, r.width, r.height)
                    }
                })
                .collect();
            let seconds = if v.fps > 0.0 { v.frames as f32 / v.fps } else { 0.0 };
            format!(
                "  {}. {}  [{}]  {}, {:.1} s at {:.0} fps",
                i + 1,
                v.name,
                res.join(", "),
                count(v.frames, "frame"),
                seconds,
                v.fps
            )
        })
        .collect()
}

/// `n` and the noun, plural unless `n` is 1: `1 frame`, `0 frames`, `3 messages`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_plural_unless_one() {
        assert_eq!(count(1u32, "frame"), "1 frame");
        assert_eq!(count(0u32, "frame"), "0 frames");
        assert_eq!(count(31u64, "message"), "31 messages");
    }

    #[test]
    fn menu_lines_are_read_as_the_menu_offers_them() {
        assert_eq!(parse_menu(" 1 ", false), MenuChoice::Chat);
        assert_eq!(parse_menu("2", true), MenuChoice::Stream);
        assert_eq!(parse_menu("3", false), MenuChoice::Quit);
        assert_eq!(parse_menu("quit", false), MenuChoice::Quit);
        assert_eq!(parse_menu("q", true), MenuChoice::Stop);
        assert_eq!(parse_menu("", false), MenuChoice::Nothing);
        assert_eq!(
            parse_menu("/trust bob", false),
            MenuChoice::Command(Command::Trust("bob".into()))
        );
        let MenuChoice::Unknown(why) = parse_menu("9", false) else { panic!() };
        assert!(why.ends_with("enter 1, 2 or 3."), "{why}");
        let MenuChoice::Unknown(why) = parse_menu("9", true) else { panic!() };
        assert!(why.ends_with("enter 1, 2, 3 or 4."), "{why}");
        assert_eq!(menu(true), MENU_STREAMING);
    }

    #[test]
    fn commands_and_recipients_parse() {
        assert_eq!(parse_command("/verify  alice"), Command::Verify("alice".into()));
        // A known command with the wrong arguments says how it is used.
        assert_eq!(parse_command("/verify alice extra"), Command::Usage("Usage: /verify NAME"));
        assert_eq!(parse_command("/trust"), Command::Usage("Usage: /trust NAME"));
        assert_eq!(parse_command("/join #a b"), Command::Usage("Usage: /join #ROOM"));
        assert_eq!(parse_command("/rooms please"), Command::Usage("Usage: /rooms"));
        assert_eq!(parse_command("/nope"), Command::Help);
        // /msg keeps the text's own spaces; /query alone ends a conversation.
        let msg = Command::Msg("bob".into(), "hi  there".into());
        assert_eq!(parse_command("/msg bob  hi  there "), msg);
        assert_eq!(parse_command("/msg #study x"), Command::Msg("#study".into(), "x".into()));
        assert!(matches!(parse_command("/msg bob"), Command::Usage(_)));
        assert_eq!(parse_command("/query bob"), Command::Query(Some("bob".into())));
        assert_eq!(parse_command("/query"), Command::Query(None));
        // A room's watch: a video with a resolution (or `auto`) last, stop, back, seek.
        let watch = |action| Command::Watch("#r".into(), action);
        let start = |video: &str, mode| WatchAction::Start { video: video.into(), mode };
        assert_eq!(
            parse_command("/watch #r my trip 360p"),
            watch(start("my trip", PlayMode::Fixed("360p".into())))
        );
        assert_eq!(parse_command("/watch #r demo auto"), watch(start("demo", PlayMode::Auto)));
        assert_eq!(parse_command("/watch #r demo"), watch(start("demo", PlayMode::Split)));
        assert_eq!(parse_command("/watch #r stop"), watch(WatchAction::Stop));
        assert_eq!(parse_command("/watch #r"), watch(WatchAction::Attach));
        assert_eq!(
            parse_command("/seek #r 1:30"),
            watch(WatchAction::Seek(SeekTo::Millis(90_000)))
        );
        assert_eq!(parse_command("/seek #r 450"), watch(WatchAction::Seek(SeekTo::Frame(450))));
        assert!(matches!(parse_command("/seek #r soon"), Command::Usage(_)));
        assert_eq!(parse_recipient(" quit "), RecipientChoice::Back);
        assert_eq!(parse_recipient(""), RecipientChoice::Nothing);
        assert_eq!(parse_recipient("bob"), RecipientChoice::Name("bob".into()));
        assert_eq!(parse_recipient("/help"), RecipientChoice::Command(Command::Help));
        assert_eq!(parse_recipient(" #study "), RecipientChoice::Room("#study".into()));
        assert_eq!(parse_command("/join #study"), Command::Join("#study".into()));
        assert_eq!(parse_command("/leave #study"), Command::Leave("#study".into()));
        assert_eq!(parse_command("/rooms"), Command::Rooms);
        assert_eq!(parse_command("/join"), Command::Usage("Usage: /join #ROOM"));
        assert_eq!(command_in_message("/rooms"), Some(Command::Rooms));
        assert_eq!(command_in_message("/join #a b"), Some(Command::Usage("Usage: /join #ROOM")));
        assert_eq!(command_in_message("/join #x"), Some(Command::Join("#x".into())));
        assert_eq!(command_in_message("/shrug"), None);
        assert_eq!(command_in_message("see /rooms"), None);
    }

    #[test]
    fn the_user_list_marks_us_and_a_changed_key_warns_in_three_lines() {
        let peer = |name: &str| Peer { name: name.into(), key: vec![], fingerprint: "ab12".into() };
        let lines = user_lines(&[peer("alice"), peer("Bob")], "bob", |_| false);
        assert_eq!(lines, ["Online users:", "  alice  [ab12]", "  Bob  [ab12] (you)"]);
        let lines = user_lines(&[peer("alice")], "bob", |n| n == "alice");
        assert_eq!(
            lines[1],
            "  alice  [ab12] UNTRUSTED: key changed (/verify alice, then /trust alice)"
        );
        assert_eq!(chat_line("alice", "hi", false), "[CHAT] alice: hi");
        assert_eq!(chat_line("alice", "hi", true), "[UNTRUSTED] alice: hi");
        let [first, second, _] = key_changed_lines("bob", &"1".repeat(64), &"2".repeat(64));
        assert!(first.contains(&format!("it was {}...", "1".repeat(16))), "{first}");
        assert!(second.ends_with("until you type /trust bob"), "{second}");
    }
}
