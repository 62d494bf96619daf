//! The keyboard: the lines the user types, read on an `input` thread that only reads and
//! forwards, so that the `send_chat` thread can wait for a line and for the server at the
//! same time.
//!
//! - stdin a pipe (tests, scripts): plain lines, and every prompt printed as a line of its own,
//!   so a script can wait for a prompt before it writes (README, "Using it").
//! - stdin and stdout a terminal: a line editor (`rustyline`): the prompt stays on the last
//!   line, lines that arrive meanwhile print above it and what was typed is drawn again below
//!   them; arrow keys and history; Tab completes user names at the recipient prompt and video
//!   names at the video prompt. Lines to print go to the editor from a `printer` thread
//!   (`screen.rs` says why).

use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, CompletionType, ConditionalEventHandler, Config, Context, Editor, Event, EventContext,
    EventHandler, ExternalPrinter, Helper, KeyEvent, Movement, RepeatCount,
};
use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::menu;
use super::screen::{self, Printed};
use crate::say;
use crate::sync::LockAnyway;

/// Set when the user pressed Ctrl-C in the line editor (which reads it as a key, not a
/// signal): the client then exits with status 130, as a program stopped by Ctrl-C does.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether input ended with Ctrl-C.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What the next line is asked with.
struct Ask {
    prompt: String,
    /// Tab completes these.
    words: Vec<String>,
    /// Already typed when the prompt appears (a message offered again).
    initial: String,
}

/// The lines typed, from the `input` thread. `None` (or a closed channel) is the end of
/// input. Each [`Input::ask`] is answered by one line on [`Input::lines`].
pub struct Input {
    lines: Receiver<Option<String>>,
    /// With a line editor: where to send what the next line is asked with.
    editor: Option<Sender<Ask>>,
    /// What Tab completes after a command (`/msg b` + Tab): names and rooms.
    args: Arc<Mutex<Vec<String>>>,
}

impl Input {
    /// A line editor if stdin and stdout are a terminal, plain lines otherwise.
    pub fn open() -> io::Result<Input> {
        let terminal = io::stdin().is_terminal() && io::stdout().is_terminal();
        let (tx, lines) = unbounded();
        let args = Arc::new(Mutex::new(Vec::new()));
        let editor = match terminal {
            true => start_editor(tx, args.clone())?,
            false => start_plain(tx).map(|()| None)?,
        };
        Ok(Input { lines, editor, args })
    }

    /// What Tab completes after a command from now on: the names and rooms known.
    pub fn set_args(&self, args: Vec<String>) {
        *self.args.lock_anyway() = args;
    }

    /// Asks for the next line: the prompt is printed as a line of its own when piped, and is
    /// the editor's prompt on a terminal, with `initial` already typed. `words` are what Tab
    /// completes.
    pub fn ask(&mut self, prompt: &str, words: Vec<String>, initial: &str) {
        match &self.editor {
            None => say!("{prompt}"),
            Some(editor) => {
                screen::wait_handed_over();
                let ask = Ask { prompt: prompt.to_owned(), words, initial: initial.to_owned() };
                // A closed editor has sent its end of input already.
                let _ = editor.send(ask);
            }
        }
    }

    /// Shows a menu, a line of its own either way, and asks for a choice (on a terminal the
    /// prompt is then `> `).
    pub fn ask_menu(&mut self, menu: &str) {
        say!("{menu}");
        if self.editor.is_some() {
            self.ask("> ", Vec::new(), "");
        }
    }

    /// Whether lines are edited on a terminal (not piped).
    pub fn editing(&self) -> bool {
        self.editor.is_some()
    }

    /// Where the lines asked for arrive, to wait on them beside other channels.
    pub fn lines(&self) -> &Receiver<Option<String>> {
        &self.lines
    }

    /// Waits for the line asked for; `None` at the end of input.
    pub fn line(&self) -> Option<String> {
        self.lines.recv().unwrap_or(None)
    }
}

/// Reads stdin line by line. Invalid UTF-8 is replaced, not fatal.
fn start_plain(tx: Sender<Option<String>>) -> io::Result<()> {
    thread::Builder::new().name("input".into()).spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut buf = Vec::new();
            let line = match stdin.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => None,
                Ok(_) => {
                    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        buf.pop();
                    }
                    Some(String::from_utf8_lossy(&buf).into_owned())
                }
            };
            let last = line.is_none();
            if tx.send(line).is_err() || last {
                return;
            }
        }
    })?;
    Ok(())
}

/// Tab completion: at a prompt, the whole line from its words (video names may hold spaces);
/// after a `/`, the command, then its arguments from the names and rooms known.
struct Words {
    line: Arc<Mutex<Vec<String>>>,
    args: Arc<Mutex<Vec<String>>>,
}

impl Completer for Words {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let typed = &line[..pos];
        let (start, candidates) = if !typed.starts_with('/') {
            (0, self.line.lock_anyway().clone())
        } else if let Some(space) = typed.rfind(char::is_whitespace) {
            (space + 1, self.args.lock_anyway().clone())
        } else {
            (0, menu::COMMANDS.iter().map(|(verb, _)| format!("{verb} ")).collect())
        };
        let word = typed[start..].to_lowercase();
        let found = candidates
            .into_iter()
            .filter(|w| w.to_lowercase().starts_with(&word))
            .map(|w| Pair { display: w.clone(), replacement: w })
            .collect();
        Ok((start, found))
    }
}

/// Ctrl-C as shells take it: it clears a line being typed, and ends the client only from an
/// empty one.
struct CtrlC;

impl ConditionalEventHandler for CtrlC {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if ctx.line().is_empty() {
            Some(Cmd::Interrupt)
        } else {
            Some(Cmd::Kill(Movement::WholeLine))
        }
    }
}

impl Hinter for Words {
    type Hint = String;
}
impl Highlighter for Words {}
impl Validator for Words {}
impl Helper for Words {}

/// The `printer` thread: from now on, every line printed goes through the editor, which draws
/// it above the line being typed.
fn start_printer(printer: impl ExternalPrinter + Send + 'static) -> io::Result<()> {
    screen::remember_terminal();
    let (queue, queued) = screen::print_queue();
    thread::Builder::new().name("printer".into()).spawn(move || run_printer(printer, queued))?;
    screen::set_printer(queue);
    Ok(())
}

/// Printed by the printer when nothing else comes, to learn that the lines before it are
/// written: the cursor goes up a row, and the newline the editor ends it with brings it back;
/// nothing shows but the prompt drawn again.
const FENCE: &str = "\x1b[1A\n";

/// Hands each line to the editor, and runs each `Then` once the lines before it are written.
///
/// `print` returns once the editor has taken the line into its queue of one (rustyline's
/// `ExternalPrinter`: a channel of capacity 1 that the editor empties, then writes what it
/// took, before it takes the next). So when the `n`th `print` returns, the editor has taken
/// line `n - 1`, which it does only after writing line `n - 2`: a line is known to be written
/// two prints later. With no more lines to print, [`FENCE`]s are those two prints. A
/// terminal that stops taking output stops the editor, then `print`, then every `Then`.
fn run_printer(mut printer: impl ExternalPrinter, queued: Receiver<Printed>) {
    let mut prints: u64 = 0;
    // Each `Then`, with the count of prints after which the lines before it are written.
    let mut waiting: VecDeque<(u64, Box<dyn FnOnce() + Send>)> = VecDeque::new();
    loop {
        while waiting.front().is_some_and(|(due, _)| *due <= prints) {
            if let Some((_, then)) = waiting.pop_front() {
                then();
            }
        }
        let next = match queued.try_recv() {
            Ok(next) => next,
            Err(TryRecvError::Empty) if !waiting.is_empty() => Printed::Text(FENCE.into()),
            Err(TryRecvError::Empty) => match queued.recv() {
                Ok(next) => next,
                Err(_) => return,
            },
            Err(TryRecvError::Disconnected) => return,
        };
        let text = match next {
            Printed::Text(text) => text,
            Printed::Shown(text, before) => {
                before();
                text
            }
            Printed::Handed(done) => {
                let _ = done.send(());
                continue;
            }
            Printed::Then(then) => {
                let due = if prints == 0 { 0 } else { prints + 2 };
                waiting.push_back((due, then));
                continue;
            }
        };
        // The terminal is gone: end quietly, as `say` does when stdout is closed.
        if printer.print(text).is_err() {
            std::process::exit(0);
        }
        prints += 1;
    }
}

/// Starts the editor on the `input` thread; returns where to send what each line is asked
/// with. Lines printed meanwhile go through the editor from now on.
fn start_editor(
    tx: Sender<Option<String>>,
    args: Arc<Mutex<Vec<String>>>,
) -> io::Result<Option<Sender<Ask>>> {
    // As bash completes: the common part at once, and the list of matches below if there are
    // several. Rustyline's default cycles through the matches, and waiting for the next Tab
    // it draws none of the lines that arrive meanwhile.
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .completion_show_all_if_ambiguous(true)
        .build();
    let mut editor: Editor<Words, DefaultHistory> =
        Editor::with_config(config).map_err(io::Error::other)?;
    let words = Arc::new(Mutex::new(Vec::new()));
    editor.set_helper(Some(Words { line: words.clone(), args }));
    editor.bind_sequence(KeyEvent::ctrl('C'), EventHandler::Conditional(Box::new(CtrlC)));
    start_printer(editor.create_external_printer().map_err(io::Error::other)?)?;
    let (asks_tx, asks) = unbounded::<Ask>();
    thread::Builder::new().name("input".into()).spawn(move || {
        // Each prompt has its own history: Up at the recipient prompt recalls recipients, at
        // the message prompt messages.
        let mut histories: HashMap<String, DefaultHistory> = HashMap::new();
        while let Ok(ask) = asks.recv() {
            *words.lock_anyway() = ask.words;
            let history = histories.entry(ask.prompt.clone()).or_default();
            std::mem::swap(editor.history_mut(), history);
            let read = editor.readline_with_initial(&ask.prompt, (&ask.initial, ""));
            if let Ok(line) = &read
                && !line.trim().is_empty()
            {
                let _ = editor.add_history_entry(line.as_str());
            }
            std::mem::swap(editor.history_mut(), history);
            let line = match read {
                Ok(line) => Some(line),
                // Ctrl-D and Ctrl-C (on an empty line) end the session, as end of input
                // does; Ctrl-C with the status an interrupted program has (`interrupted`).
                Err(ReadlineError::Eof) => None,
                Err(ReadlineError::Interrupted) => {
                    INTERRUPTED.store(true, Ordering::SeqCst);
                    None
                }
                Err(e) => {
                    log::warn!("cannot read the terminal: {e}");
                    None
                }
            };
            let last = line.is_none();
            if tx.send(line).is_err() || last {
                return;
            }
        }
    })?;
    Ok(Some(asks_tx))
}
