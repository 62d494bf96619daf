//! What the client prints, and how: every line the terminal client shows goes through
//! [`say`], which makes any text harmless (names, messages, errors and video labels come from
//! the network, and a hostile server or peer could put terminal commands in them) and ends the
//! client quietly if nobody reads its output any more (`chatroom client | head`).

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Prints one line, escaped with [`safe`]. If stdout is closed, the client exits at once with
/// status 0 (as `head` expects of a program whose output it has stopped reading), instead of
/// panicking as `println!` does.
pub fn say(args: fmt::Arguments<'_>) {
    let line = safe(&args.to_string());
    let mut out = io::stdout().lock();
    if SILENT.load(Ordering::SeqCst) {
        return;
    }
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Set by [`say_last`]: the client is ending, and nothing more may print.
static SILENT: AtomicBool = AtomicBool::new(false);

/// Prints the client's last line (`Disconnected from server`): whatever another thread was
/// about to say (a stream's summary, a menu) is not said after it.
pub fn say_last(args: fmt::Arguments<'_>) {
    let line = safe(&args.to_string());
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    // Set while the lock is held: a line already being written comes before this one.
    SILENT.store(true, Ordering::SeqCst);
}

/// `say!("...", args)`: `println!` for the terminal client.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::client::screen::say(format_args!($($arg)*)) };
}

/// `text` with every character that could act on a terminal shown as a visible escape
/// (`\u{1b}`): C0 and C1 controls, DEL, and the invisible format characters (bidirectional
/// overrides such as U+202E, zero-width characters, line and paragraph separators) that can
/// make text read other than it is. Tabs stay.
pub fn safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c != '\t' && (c.is_control() || is_format(c)) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode's format characters (general category Cf) and the line and paragraph separators.
fn is_format(c: char) -> bool {
    const RANGES: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x2028, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
    ];
    let c = c as u32;
    RANGES.iter().any(|&(low, high)| (low..=high).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_commands_and_invisible_characters_are_shown_escaped() {
        // Clear the screen, set the window title, write the clipboard (OSC 52), ring the bell.
        assert_eq!(safe("hi\x1b[2J"), "hi\\u{1b}[2J");
        assert_eq!(safe("\x1b]0;pwned\x07"), "\\u{1b}]0;pwned\\u{7}");
        assert_eq!(safe("\x1b]52;c;ZWNobw==\x07"), "\\u{1b}]52;c;ZWNobw==\\u{7}");
        // A fake line of its own, and C1 controls (the 8-bit CSI).
        assert_eq!(safe("a\r\n[CHAT] bob: hi"), "a\\u{d}\\u{a}[CHAT] bob: hi");
        assert_eq!(safe("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(safe("\u{7f}"), "\\u{7f}");
        // Text that reads backwards (U+202E), zero-width and separator characters.
        assert_eq!(safe("abc\u{202e}gpj.exe"), "abc\\u{202e}gpj.exe");
        assert_eq!(safe("a\u{200b}b\u{2028}c\u{feff}"), "a\\u{200b}b\\u{2028}c\\u{feff}");
        // Everything else is left alone.
        assert_eq!(
            safe("José: ünïcødé, 漢字, emoji 🎉, tab\tok"),
            "José: ünïcødé, 漢字, emoji 🎉, tab\tok"
        );
    }
}
