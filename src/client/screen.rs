//! What the client prints, and how: every line the terminal client shows goes through
//! [`say`], which makes any text harmless (names, messages, errors and video labels come from
//! the network, and a hostile server or peer could put terminal commands in them) and ends the
//! client quietly if nobody reads its output any more (`chatroom client | head`).
//!
//! On a terminal, the line editor (`input.rs`) installs a [`Printer`]: lines then go through
//! it, so they print above the prompt and what is being typed is drawn again below them.
//!
//! The printer is a queue to a `printer` thread, not a call into the editor: while the editor
//! waits for a key of its own (after Tab, say) it takes no lines to print, and a thread that
//! handed it one would wait with it. That thread must not be `send_chat`, which answers the
//! server's keep-alives: a terminal that stops drawing must not cost the connection.

use crate::sync::LockAnyway;
use crossbeam_channel::{Sender, bounded};
use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the `printer` thread is handed: text to print above the prompt, or a request to say
/// when everything handed before it is written out.
pub enum Printed {
    Text(String),
    /// A message's line, and what to do right before it goes out (its first note in the
    /// `seen` file).
    Shown(String, Box<dyn FnOnce() + Send>),
    /// Done once every line queued before it is written: a message's acknowledgement.
    Then(Box<dyn FnOnce() + Send>),
    /// Answered once every line queued before it is handed to the editor.
    Handed(Sender<()>),
}

/// Where lines go on a terminal: the `printer` thread's queue.
pub type Printer = Sender<Printed>;

/// How many lines may wait for a terminal that does not draw before printing waits too:
/// a few screens' worth, a bound on what a stalled editor holds in memory.
pub const PRINT_QUEUE: usize = 4096;

static PRINTER: Mutex<Option<Printer>> = Mutex::new(None);

/// From now on, lines go through `printer`.
pub fn set_printer(printer: Printer) {
    *PRINTER.lock_anyway() = Some(printer);
}

/// A queue of [`PRINT_QUEUE`] lines and its reading end, for the `printer` thread.
pub fn print_queue() -> (Printer, crossbeam_channel::Receiver<Printed>) {
    bounded(PRINT_QUEUE)
}

/// Writes `text` (whole lines, or terminal commands) through the printer if there is one,
/// else to stdout; `before` is done right before it goes out. Lines (not commands) said
/// while a picture has the screen are kept to be said again after it.
fn emit_with(text: &str, before: Option<Box<dyn FnOnce() + Send>>, line: bool) -> io::Result<()> {
    let printer = PRINTER.lock_anyway();
    // Checked with the lock held: nothing prints after `say_last`'s line.
    if SILENT.load(Ordering::SeqCst) {
        return Ok(());
    }
    if line && let Some(kept) = PICTURE.lock_anyway().as_mut() {
        kept.keep(text);
    }
    if let Some(printer) = printer.as_ref() {
        let printed = match before {
            Some(before) => Printed::Shown(text.to_owned(), before),
            None => Printed::Text(text.to_owned()),
        };
        let sent = printer.send(printed);
        return sent.map_err(|_| io::Error::other("the terminal's printer is gone"));
    }
    if let Some(before) = before {
        before();
    }
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush())
}

fn emit(text: &str) -> io::Result<()> {
    emit_with(text, None, true)
}

/// Prints one line, escaped with [`safe`]. If stdout is closed, the client exits at once with
/// status 0 (as `head` expects of a program whose output it has stopped reading), instead of
/// panicking as `println!` does.
pub fn say(args: fmt::Arguments<'_>) {
    print_line(&line(args));
}

/// A line as [`say`] prints it, made ahead of printing it with [`print_line`] (so that nothing
/// but the print comes after what must come just before it).
pub fn line(args: fmt::Arguments<'_>) -> String {
    safe(&args.to_string()) + "\n"
}

/// Prints a line made by [`line`].
pub fn print_line(line: &str) {
    if emit(line).is_err() {
        std::process::exit(0);
    }
}

/// Prints a message's line made by [`line`], doing `before` right before it goes out: on a
/// terminal, on the `printer` thread, as it hands the line to the editor.
pub fn print_shown(line: &str, before: impl FnOnce() + Send + 'static) {
    if emit_with(line, Some(Box::new(before)), true).is_err() {
        std::process::exit(0);
    }
}

/// Sends terminal commands of our own making (never network text) that move the cursor, as
/// lines do (the prompt is drawn again after them).
pub fn control(commands: &str) {
    let _ = emit_with(commands, None, false);
}

/// The lines said while a picture has the terminal's alternate screen, where they scroll
/// away with no scrollback: said again on the main screen when it ends, so that every line
/// stays readable there. At most [`PICTURE_LINES`]; past that, the oldest are counted.
struct Kept {
    lines: std::collections::VecDeque<String>,
    dropped: usize,
}

/// Lines kept to say again after a picture: a few screens' worth of scrollback.
const PICTURE_LINES: usize = 10_000;

impl Kept {
    fn keep(&mut self, text: &str) {
        if self.lines.len() == PICTURE_LINES {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(text.to_owned());
    }

    /// The lines, with a word first for those not kept.
    fn said(self) -> String {
        let mut out = String::new();
        if self.dropped > 0 {
            out.push_str(&format!("({} earlier lines are not repeated here.)\n", self.dropped));
        }
        out.extend(self.lines);
        out
    }
}

/// Set while a picture has the alternate screen.
static PICTURE: Mutex<Option<Kept>> = Mutex::new(None);

/// A picture takes the screen: `setup` (its terminal commands, `blocks::enter_screen`) goes
/// out after every line said before it, and this returns once it has (or after a second):
/// frames are painted straight to the terminal, and must not land on the main screen.
pub fn begin_picture(setup: &str) {
    let printer = {
        let printer = PRINTER.lock_anyway();
        *PICTURE.lock_anyway() = Some(Kept { lines: Default::default(), dropped: 0 });
        printer.clone()
    };
    let Some(printer) = printer else { return paint(setup) };
    let _ = printer.send(Printed::Text(setup.to_owned()));
    wait_for(&printer, written);
}

/// The picture gives the screen back: `teardown` (`blocks::leave_screen`), then the lines
/// said meanwhile, again, on the main screen, after every line said before.
pub fn end_picture(teardown: &str) {
    let printer = PRINTER.lock_anyway();
    let Some(kept) = PICTURE.lock_anyway().take() else { return };
    let text = teardown.to_owned() + &kept.said();
    match printer.as_ref() {
        Some(printer) => drop(printer.send(Printed::Text(text))),
        None => paint(&text),
    }
}

/// As [`end_picture`], at once, straight to the terminal: the process is ending, and the
/// printer's queue will not be emptied.
pub fn end_picture_now(teardown: &str) {
    let Some(kept) = PICTURE.lock_anyway().take() else { return };
    let mut out = io::stdout().lock();
    let text = teardown.to_owned() + "\r\x1b[K" + &kept.said();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes terminal commands of our own making (a video frame's changed cells, the picture's
/// scroll region) in one write, straight to the terminal: they leave the cursor where it
/// was (or on the last line, where the prompt is), so the prompt needs no redrawing.
pub fn paint(commands: &str) {
    if commands.is_empty() || SILENT.load(Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout().lock();
    let _ = out.write_all(commands.as_bytes()).and_then(|()| out.flush());
}

/// The terminal's settings when the client started, to put back when it ends: the line
/// editor changes them while it reads, and the process may end in the middle of a read.
static TERMINAL: Mutex<Option<nix::sys::termios::Termios>> = Mutex::new(None);

/// Remembers the terminal's settings (if stdin is a terminal).
pub fn remember_terminal() {
    if let Ok(settings) = nix::sys::termios::tcgetattr(io::stdin()) {
        *TERMINAL.lock_anyway() = Some(settings);
    }
}

/// Puts the remembered settings back, and clears the prompt the editor may have left on the
/// last line; called just before the process exits.
pub fn restore_terminal() {
    if let Some(settings) = TERMINAL.lock_anyway().as_ref() {
        let mut out = io::stdout().lock();
        let _ = out.write_all(b"\r\x1b[K").and_then(|()| out.flush());
        let _ =
            nix::sys::termios::tcsetattr(io::stdin(), nix::sys::termios::SetArg::TCSANOW, settings);
    }
}

/// Returns once every line said so far is handed to the line editor (or after a second).
/// Asked before each prompt: rustyline's printer writes a line straight to the terminal when
/// the editor is not reading, and the editor may start reading, and draw its prompt, between
/// its check and its write: the line then lands after the prompt, on its row.
pub fn wait_handed_over() {
    let Some(printer) = PRINTER.lock_anyway().clone() else { return };
    wait_for(&printer, Printed::Handed);
}

/// Hands `printer` the mark `mark` makes with a sender, and waits (at most a second each,
/// for room in its queue and for the mark to be reached) until it answers.
fn wait_for(printer: &Printer, mark: impl FnOnce(Sender<()>) -> Printed) {
    let (done, reached) = bounded(1);
    if printer.send_timeout(mark(done), Duration::from_secs(1)).is_ok() {
        let _ = reached.recv_timeout(Duration::from_secs(1));
    }
}

/// The mark answered once every line queued before it is written out.
fn written(done: Sender<()>) -> Printed {
    Printed::Then(Box::new(move || {
        let _ = done.send(());
    }))
}

/// Set by [`say_last`]: the client is ending, and nothing more may print.
static SILENT: AtomicBool = AtomicBool::new(false);

/// Runs `then` once every line said before it has been written out: on a terminal, by the
/// `printer` thread once the editor has written them (a terminal that stops taking output
/// holds it back); otherwise at once, since lines are written as they are said. How a
/// message is noted as printed, then acknowledged, only after its line is out, on every
/// output.
pub fn after_printed(then: impl FnOnce() + Send + 'static) {
    let printer = PRINTER.lock_anyway();
    match printer.as_ref() {
        // A printer gone with the terminal: the process is ending; nothing to acknowledge.
        Some(printer) => drop(printer.send(Printed::Then(Box::new(then)))),
        None => {
            drop(printer);
            then();
        }
    }
}

/// Prints the client's last line (`Disconnected from server`): whatever another thread was
/// about to say (a stream's summary, a menu) is not said after it.
pub fn say_last(args: fmt::Arguments<'_>) {
    let line = safe(&args.to_string()) + "\n";
    // Held until SILENT is set: a line already being printed comes before this one.
    let printer = PRINTER.lock_anyway();
    if let Some(kept) = PICTURE.lock_anyway().as_mut() {
        kept.keep(&line);
    }
    match printer.as_ref() {
        // Then wait until the editor has written it: the printer knows when (its fences).
        Some(printer) => {
            let _ = printer.send_timeout(Printed::Text(line), Duration::from_secs(1));
            wait_for(printer, written);
        }
        None => {
            let mut out = io::stdout().lock();
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        }
    }
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
