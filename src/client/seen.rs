//! The `seen` file: which messages this user was shown, kept between sessions, so that one the
//! server sends again (our acknowledgement was lost) is not shown twice.
//!
//! A line and a note in a file are two writes; a client killed between them either loses a
//! message (noted, never shown) or shows it twice (shown, never noted). So each message is
//! noted twice: `printing` right before its line goes out, `printed` once the line is
//! written. A message with the first note and not the second was perhaps shown, perhaps not:
//! the next session shows it again with a word that it may be a repeat
//! ([`SeenBook::load`]'s `cut_off`). Nothing is lost, and nothing is shown twice unsaid.
//!
//! The file is `name value` lines, later lines winning (`profile::read_pairs`):
//! `sender:fingerprint WINDOW` once a message is printed (the sender's replay window, see
//! [`Window`]), and `sender:fingerprint/SEQ printing` before it is.

use super::profile;
use crate::keys::Window;
use crate::sync::LockAnyway;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Lines appended to the file before it is written anew, whole.
const SEEN_COMPACT: u32 = 256;

/// The `seen` file, open for appending, and what it says.
pub struct SeenBook {
    path: PathBuf,
    append: Option<File>,
    /// By `sender:fingerprint`, the window of what was printed, as written.
    printed: BTreeMap<String, String>,
    /// Messages noted `printing` and not yet `printed`, as (`sender:fingerprint`, number).
    printing: BTreeSet<(String, u64)>,
    /// Lines appended since the file was last written whole.
    appended: u32,
}

/// What an earlier session left in a `seen` file.
pub struct Loaded {
    /// Each sender's (lower-cased name, fingerprint) window of what was printed.
    pub windows: Vec<(String, String, Window)>,
    /// The messages (sender, fingerprint, number) that were being printed when that session
    /// ended: perhaps shown, perhaps not.
    pub cut_off: Vec<(String, String, u64)>,
}

impl SeenBook {
    /// Reads `path` (nothing if it is not there yet) and keeps it for appending.
    pub fn load(path: PathBuf) -> (Arc<Mutex<SeenBook>>, Loaded) {
        // As written (to write them again whole), and read.
        let (mut printed, mut windows) = (BTreeMap::new(), BTreeMap::new());
        let mut printing = BTreeSet::new();
        for (key, value) in profile::read_pairs(&path) {
            match key.split_once('/') {
                Some((who, seq)) if value == "printing" => {
                    if let Ok(seq) = seq.parse::<u64>() {
                        printing.insert((who.to_owned(), seq));
                    }
                }
                Some(_) => {}
                None => {
                    if let Some(window) = parse_window(&value) {
                        windows.insert(key.clone(), window);
                        printed.insert(key, value);
                    }
                }
            }
        }
        // A number the window came to hold was printed after all; the others stay noted as
        // being printed (through the file's rewrites) until they are.
        printing.retain(|(who, seq)| !windows.get(who).is_some_and(|w: &Window| w.holds(*seq)));
        let loaded = Loaded {
            windows: (windows.iter())
                .filter_map(|(who, w)| split(who).map(|(s, fp)| (s, fp, *w)))
                .collect(),
            cut_off: (printing.iter())
                .filter_map(|(who, seq)| split(who).map(|(s, fp)| (s, fp, *seq)))
                .collect(),
        };
        // The handle appends go through, opened ahead if the file is there (the first
        // message ever makes it).
        let append = if path.exists() { profile::open_append(&path).ok() } else { None };
        let book = SeenBook { path, append, printed, printing, appended: 0 };
        (Arc::new(Mutex::new(book)), loaded)
    }

    fn append(&mut self, line: &str) {
        self.appended += 1;
        if let Err(e) = profile::append_line(&self.path, &mut self.append, line) {
            log::warn!("cannot remember sequence numbers: {}", crate::report::Chain(&e));
        }
    }

    /// Every `SEEN_COMPACT` lines the file is written anew, whole: what was printed, and
    /// what is being printed. Written to a new file renamed over the old one, so a crash
    /// leaves the old file or the new, never half of one.
    fn tidy(&mut self) {
        if self.appended < SEEN_COMPACT {
            return;
        }
        self.appended = 0;
        let mut pairs = self.printed.clone();
        for (who, seq) in &self.printing {
            pairs.insert(format!("{who}/{seq}"), "printing".into());
        }
        // The file is replaced: the handle open on the old one is let go.
        self.append = None;
        let written = profile::write_pairs(&self.path, &pairs)
            .and_then(|()| profile::open_append(&self.path).map(|f| self.append = Some(f)));
        if let Err(e) = written {
            log::warn!("cannot keep the sequence numbers' file: {}", crate::report::Chain(&e));
        }
    }
}

/// One message's two notes in the book, made when it was accepted.
#[derive(Clone)]
pub struct Noted {
    book: Arc<Mutex<SeenBook>>,
    /// `sender:fingerprint`.
    who: String,
    seq: u64,
    /// The sender's window with this message in it, as written.
    window: String,
}

impl Noted {
    pub fn new(book: &Arc<Mutex<SeenBook>>, sender: &str, fp: &str, seq: u64, w: &Window) -> Noted {
        let (book, who, window) = (book.clone(), format!("{sender}:{fp}"), show_window(w));
        Noted { book, who, seq, window }
    }

    /// Right before the line goes out: one `write` to a file held open, nothing else.
    pub fn printing(&self) {
        let mut book = self.book.lock_anyway();
        book.printing.insert((self.who.clone(), self.seq));
        book.append(&format!("{}/{} printing\n", self.who, self.seq));
    }

    /// Once the line is written out.
    pub fn printed(self) {
        let mut book = self.book.lock_anyway();
        book.printing.remove(&(self.who.clone(), self.seq));
        book.append(&format!("{} {}\n", self.who, self.window));
        book.printed.insert(self.who, self.window);
        book.tidy();
    }
}

impl PartialEq for Noted {
    fn eq(&self, other: &Noted) -> bool {
        (&self.who, self.seq, &self.window) == (&other.who, other.seq, &other.window)
    }
}

impl std::fmt::Debug for Noted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Noted({} #{} {})", self.who, self.seq, self.window)
    }
}

/// `sender:fingerprint` taken apart.
fn split(who: &str) -> Option<(String, String)> {
    who.split_once(':').map(|(s, fp)| (s.to_owned(), fp.to_owned()))
}

/// A window as kept in the file: its top, then the four words of the bits below it,
/// `top/w0/w1/w2/w3` in hex.
fn show_window(w: &Window) -> String {
    let words: Vec<String> = w.below.iter().map(|b| format!("{b:x}")).collect();
    format!("{}/{}", w.top, words.join("/"))
}

/// A window read back; a bare number (what earlier versions kept: the highest only) has every
/// number below it seen.
fn parse_window(kept: &str) -> Option<Window> {
    let mut parts = kept.split('/');
    let top = parts.next()?.parse().ok()?;
    let words: Vec<u64> =
        parts.map(|p| u64::from_str_radix(p, 16)).collect::<Result<_, _>>().ok()?;
    let below = match words.len() {
        0 => [u64::MAX; 4],
        4 => [words[0], words[1], words[2], words[3]],
        _ => return None,
    };
    Some(Window { top, below })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_cut_off_stays_noted_through_the_files_rewrites_until_printed() {
        let dir = std::env::temp_dir().join(format!("chatroom-seenbook-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seen");
        std::fs::write(&path, "alice:aa/5 printing\n").unwrap();
        let (book, loaded) = SeenBook::load(path.clone());
        assert_eq!(loaded.cut_off, [("alice".to_owned(), "aa".to_owned(), 5)]);
        // Enough of bob's messages printed for the file to be written anew, whole.
        for seq in 1..=u64::from(SEEN_COMPACT) + 1 {
            let window = Window { top: seq, below: [u64::MAX; 4] };
            Noted::new(&book, "bob", "bb", seq, &window).printed();
        }
        let (_, again) = SeenBook::load(path);
        assert_eq!(again.cut_off, [("alice".to_owned(), "aa".to_owned(), 5)]);
        assert_eq!(again.windows.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
