//! Step 5's server: step 4's, with streaming done right.
//! - The catalog is read as the files are named: `NAME_LABEL.mp4`, split at the **last** `_`,
//!   a label such as `144p` sorted by its height as a number, videos sorted by name (the same
//!   numbers every run), and a video found by its whole name only.
//! - The timeline has the **shortest** file's frame count; the split cuts it into one segment
//!   per resolution, lowest first, each `total / n` frames, the remainder to the first: every
//!   frame once, as many as announced (`split`).
//! - Each frame carries its timeline index and label (`FRAM`); `SEND` ends the stream, saying
//!   how many were sent and why.
//! - Frames are paced at the video's rate on a thread of their own, `stream-NAME`; the reader
//!   keeps reading, so a `STOP` ends the stream within a frame, and a chat arrives meanwhile.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, bounded};

use super::wire::{read_frame, split_name, write_frame};
use crate::common::{self, Args};

/// Frames a client's queue holds before its senders wait.
const QUEUE: usize = 32;
/// How long a sender waits for room in a full queue before its reader is cut off.
const PATIENCE: Duration = Duration::from_secs(2);

/// One connection's way out: its queue, and its socket (to cut it off, never to write).
#[derive(Clone)]
struct Outbox {
    queue: Sender<Vec<u8>>,
    conn: Arc<TcpStream>,
}

impl Outbox {
    /// One frame into the queue. A queue still full after `PATIENCE` belongs to a client that
    /// does not read: it is cut off (its reader sees the end and leaves cleanly).
    fn send(&self, tag: &[u8; 4], payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(8 + payload.len());
        write_frame(&mut frame, tag, payload)?;
        match self.queue.send_timeout(frame, PATIENCE) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Timeout(_)) => {
                let _ = self.conn.shutdown(Shutdown::Both);
                Err(io::Error::new(io::ErrorKind::TimedOut, "a client that does not read"))
            }
            Err(SendTimeoutError::Disconnected(_)) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

/// The writer: the only thread that writes this socket, a whole frame at a time, until the
/// queue closes (the session is over) or the socket fails.
fn writer(mut conn: &TcpStream, queue: Receiver<Vec<u8>>) {
    for frame in queue {
        if conn.write_all(&frame).is_err() {
            break;
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}

/// A user who has joined: the key others seal for, and the way to reach them.
struct Member {
    key: String,
    outbox: Outbox,
}

static MEMBERS: Mutex<BTreeMap<String, Member>> = Mutex::new(BTreeMap::new());
/// The videos, by name, each with its files lowest resolution first.
static CATALOG: OnceLock<BTreeMap<String, Vec<File>>> = OnceLock::new();

/// One resolution of a video: its height (from the label), its label, its path.
type File = (u32, String, PathBuf);

/// The catalog of a folder: `NAME_LABEL.mp4` files, the name cut at the last `_`, the label a
/// height and `p`. Other files are left out.
fn catalog(dir: &Path) -> io::Result<BTreeMap<String, Vec<File>>> {
    let mut videos: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for file in common::mp4_files(dir)? {
        let Some((name, label)) = file.trim_end_matches(".mp4").rsplit_once('_') else { continue };
        let Some(height) = label.strip_suffix('p').and_then(|h| h.parse().ok()) else { continue };
        videos.entry(name.into()).or_default().push((height, label.into(), dir.join(&file)));
    }
    videos.values_mut().for_each(|files| files.sort());
    Ok(videos)
}

/// The split: `total` frames cut into `n` segments (first frame, length), lowest resolution
/// first, each `total / n` long, the remainder added to the first.
fn split(total: u32, n: u32) -> Vec<(u32, u32)> {
    let (each, rest) = (total / n, total % n);
    (0..n).map(|i| if i == 0 { (0, each + rest) } else { (i * each + rest, each) }).collect()
}

fn members() -> std::sync::MutexGuard<'static, BTreeMap<String, Member>> {
    MEMBERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The directory to every member: the queues are copied under the lock, filled after it.
fn send_directory() {
    let (list, outboxes): (BTreeMap<_, _>, Vec<_>) = {
        let members = members();
        let list = members.iter().map(|(n, m)| (n.clone(), m.key.clone())).collect();
        (list, members.values().map(|m| m.outbox.clone()).collect())
    };
    let json = serde_json::to_string(&list).unwrap_or_default();
    for outbox in &outboxes {
        let _ = outbox.send(b"URIF", json.as_bytes());
    }
}

/// Why a name cannot be taken, if it cannot (as in step 2).
fn refusal(name: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if name.is_empty() || name.len() > 32 || !name.chars().all(allowed) {
        return Some("a name is 1 to 32 letters, digits, '_', '.' or '-'".into());
    }
    let taken = name == "QUIT" || members().keys().any(|n| n.eq_ignore_ascii_case(name));
    taken.then(|| format!("the name {name} is taken"))
}

/// The join: `JOIN` frames until one names a free name.
fn join(conn: &TcpStream, outbox: &Outbox) -> io::Result<String> {
    loop {
        let (tag, payload) = read_frame(conn)?;
        let Some((name, key)) = split_name(&payload).filter(|_| &tag == b"JOIN") else {
            outbox.send(b"ERRR", b"join first")?;
            continue;
        };
        if let Some(why) = refusal(&name) {
            outbox.send(b"ERRR", why.as_bytes())?;
            continue;
        }
        let key = String::from_utf8_lossy(key).into_owned();
        members().insert(name.clone(), Member { key, outbox: outbox.clone() });
        outbox.send(b"OKAY", b"")?;
        println!("joined: {name}");
        send_directory();
        return Ok(name);
    }
}

/// One connection: its writer started, then the session, then, however it ended, the leave
/// (its stream stopped too).
fn handle_client(conn: TcpStream) -> io::Result<()> {
    let conn = Arc::new(conn);
    let (queue, outgoing) = bounded(QUEUE);
    let out = conn.clone();
    let peer = conn.peer_addr()?;
    thread::Builder::new().name(format!("writer-{peer}")).spawn(move || writer(&out, outgoing))?;
    let outbox = Outbox { queue, conn: conn.clone() };
    let username = join(&conn, &outbox)?;
    let stop = Arc::new(AtomicBool::new(false));
    let ended = serve(&conn, &outbox, &username, &stop);
    // The clean leave, whatever ended the session. Dropping the queue ends the writer once
    // it has written what is queued.
    stop.store(true, Ordering::SeqCst);
    members().remove(&username);
    send_directory();
    println!("left: {username}");
    ended
}

/// Each request as it comes, until `QUIT` or a read that fails. `stop` is the flag of the
/// stream playing, if one is: a new `PLAY` or a `STOP` raises it.
fn serve(conn: &TcpStream, outbox: &Outbox, name: &str, stop: &Arc<AtomicBool>) -> io::Result<()> {
    let mut stop = stop.clone();
    loop {
        let (tag, payload) = read_frame(conn)?;
        match &tag {
            b"CHAT" => chat(outbox, name, &payload)?,
            b"LIST" => {
                let catalog = CATALOG.get().expect("set at start").iter();
                let list: Vec<_> =
                    catalog.map(|(n, f)| (n, f.iter().map(|f| &f.1).collect::<Vec<_>>())).collect();
                outbox.send(b"STLI", serde_json::to_string(&list)?.as_bytes())?;
            }
            b"PLAY" => {
                stop.store(true, Ordering::SeqCst);
                stop = Arc::new(AtomicBool::new(false));
                let video = String::from_utf8_lossy(&payload).into_owned();
                let Some(files) = CATALOG.get().expect("set at start").get(&video) else {
                    outbox.send(b"ERRR", format!("no video named {video}").as_bytes())?;
                    continue;
                };
                println!("stream: {name} asked for {video}");
                let (out, user, files, halt) =
                    (outbox.clone(), name.to_owned(), files.clone(), stop.clone());
                thread::Builder::new()
                    .name(format!("stream-{name}"))
                    .spawn(move || stream(&out, &user, &video, &files, &halt))?;
            }
            b"STOP" => stop.store(true, Ordering::SeqCst),
            b"QUIT" => return Ok(()),
            _ => outbox.send(b"ERRR", b"not a request this server knows")?,
        }
    }
}

/// A chat into its recipient's queue, with the sender's name stamped on it. A recipient that
/// does not read is cut off; the sender hears that it was not delivered.
fn chat(outbox: &Outbox, username: &str, payload: &[u8]) -> io::Result<()> {
    let Some((recipient, sealed)) = split_name(payload) else {
        return outbox.send(b"ERRR", b"a chat names its recipient");
    };
    let to = members().get(&recipient).map(|m| m.outbox.clone());
    let Some(to) = to else {
        return outbox.send(b"ERRR", format!("no user named {recipient}").as_bytes());
    };
    let stamped = [username.as_bytes(), b"\n", sealed].concat();
    if to.send(b"CHAT", &stamped).is_err() {
        outbox.send(b"ERRR", format!("{recipient} is not reading: not delivered").as_bytes())?;
    }
    Ok(())
}

/// One stream, on its own thread: `STRM` (the plan), each frame paced at the video's rate,
/// then `SEND` (how many, and why it ended).
fn stream(outbox: &Outbox, username: &str, video: &str, files: &[File], stop: &AtomicBool) {
    let total = files.iter().map(|f| common::frame_count(&f.2)).min().unwrap_or(0);
    let fps = Some(common::fps(&files[0].2)).filter(|f| *f > 0.0).unwrap_or(25.0);
    let plan = split(total, files.len() as u32);
    let segments: Vec<_> = files.iter().zip(&plan).map(|(f, (_, len))| (&f.1, len)).collect();
    let start =
        serde_json::json!({ "video": video, "total": total, "fps": fps, "segments": segments });
    if outbox.send(b"STRM", start.to_string().as_bytes()).is_err() {
        return;
    }
    let (mut sent, began) = (0, Instant::now());
    let mut play = || {
        for (file, &(first, len)) in files.iter().zip(&plan) {
            let mut cap = common::open(&file.2, first);
            for t in first..first + len {
                if stop.load(Ordering::SeqCst) {
                    return "stopped";
                }
                // Paced: frame `t` leaves at `t / fps` seconds from the start.
                let due = began + Duration::from_secs_f64(f64::from(t) / fps);
                thread::sleep(due.saturating_duration_since(Instant::now()));
                let Some(Some(jpeg)) = common::next_jpeg(&mut cap) else { return "error" };
                let label = file.1.as_bytes();
                let frame = [&t.to_be_bytes()[..], &[label.len() as u8], label, &jpeg].concat();
                if outbox.send(b"FRAM", &frame).is_err() {
                    return "error";
                }
                sent += 1;
            }
        }
        "complete"
    };
    let why = play();
    let end = serde_json::json!({ "sent": sent, "why": why });
    let _ = outbox.send(b"SEND", end.to_string().as_bytes());
    println!("stream ended for {username}: {sent} of {total} frames sent ({why})");
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    CATALOG.set(catalog(&args.videos)?).expect("once");
    let server_socket = TcpListener::bind(&args.bind)?;
    println!("listening on {}", server_socket.local_addr()?);
    for conn in server_socket.incoming() {
        let Ok(conn) = conn else { continue };
        let name = format!("client-{}", conn.peer_addr()?);
        thread::Builder::new().name(name).spawn(move || {
            if let Err(e) = handle_client(conn) {
                eprintln!("client thread ended: {e}");
            }
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_split_plays_every_frame_once_the_remainder_first() {
        assert_eq!(super::split(31, 3), vec![(0, 11), (11, 10), (21, 10)]);
        assert_eq!(super::split(24, 3), vec![(0, 8), (8, 8), (16, 8)]);
        assert_eq!(super::split(2, 3), vec![(0, 2), (2, 0), (2, 0)]);
    }
}
