//! Step 4's server: step 3's, unchanged (this step's idea lives in the clients: the server
//! relays envelopes it cannot open, as it relayed RSA blocks). Each connection has a writer
//! thread draining a bounded queue; a chat goes to its recipient alone, stamped with its
//! sender's name; every end of a session is a clean leave.
//!
//! Still as in step 3: the original's streaming (on the client's reader thread, unpaced).

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

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
static VIDEOS: OnceLock<Vec<String>> = OnceLock::new();
static VIDEOS_UNIQUE: OnceLock<Vec<String>> = OnceLock::new();

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
    if name == "QUIT" || members().keys().any(|n| n.eq_ignore_ascii_case(name)) {
        return Some(format!("the name {name} is taken"));
    }
    None
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

/// One connection: its writer started, then the session, then, however it ended, the leave.
fn handle_client(conn: TcpStream) -> io::Result<()> {
    let conn = Arc::new(conn);
    let (queue, outgoing) = bounded(QUEUE);
    let out = conn.clone();
    let peer = conn.peer_addr()?;
    thread::Builder::new().name(format!("writer-{peer}")).spawn(move || writer(&out, outgoing))?;
    let outbox = Outbox { queue, conn: conn.clone() };
    let username = join(&conn, &outbox)?;
    let ended = serve(&conn, &outbox, &username);
    // The clean leave, whatever ended the session. Dropping the queue ends the writer once
    // it has written what is queued.
    members().remove(&username);
    send_directory();
    println!("left: {username}");
    ended
}

/// Each request as it comes, until `QUIT` or a read that fails.
fn serve(conn: &TcpStream, outbox: &Outbox, username: &str) -> io::Result<()> {
    loop {
        let (tag, payload) = read_frame(conn)?;
        match &tag {
            b"CHAT" => chat(outbox, username, &payload)?,
            b"LIST" => {
                let videos_data = serde_json::to_string(VIDEOS_UNIQUE.get().expect("set"))?;
                outbox.send(b"STLI", videos_data.as_bytes())?;
            }
            b"PLAY" => stream(outbox, username, &String::from_utf8_lossy(&payload))?,
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

/// The frames of a video, as in step 2, into the client's own queue.
fn stream(outbox: &Outbox, username: &str, video_to_play: &str) -> io::Result<()> {
    let mut resolutions: Vec<&String> = VIDEOS
        .get()
        .expect("set at start")
        .iter()
        .filter(|f| f.starts_with(video_to_play))
        .collect();
    resolutions.sort();
    let Some(first) = resolutions.first() else { return Ok(()) };
    let num_resolution = resolutions.len() as u32;
    let limit = common::frame_count(Path::new(first));
    outbox.send(b"STRM", &limit.to_be_bytes())?;
    println!("stream: {username} asked for {video_to_play}");
    let (mut frame_number, mut sent) = (0, 0);
    let mut frame_delta = limit / num_resolution;
    let remain = limit % num_resolution;
    for _ in 0..remain {
        let mut cap = common::open(Path::new(first), frame_number);
        let Some(encoded) = common::next_jpeg(&mut cap) else { break };
        if let Some(encoded) = encoded {
            outbox.send(b"FRAM", &encoded)?;
            sent += 1;
        }
        frame_delta += 1;
    }
    for file in &resolutions {
        let mut cap = common::open(Path::new(file), frame_number);
        for _ in 0..frame_delta {
            let Some(encoded) = common::next_jpeg(&mut cap) else { break };
            if let Some(encoded) = encoded {
                outbox.send(b"FRAM", &encoded)?;
                sent += 1;
            }
        }
        frame_number += frame_delta;
    }
    println!("stream ended for {username}: {sent} of {limit} frames sent");
    Ok(())
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_current_dir(&args.videos)?;
    let videos = common::mp4_files(Path::new("."))?;
    let unique: HashSet<String> =
        videos.iter().map(|f| f.split('_').next().unwrap_or("").to_owned()).collect();
    VIDEOS.set(videos).expect("once");
    VIDEOS_UNIQUE.set(unique.into_iter().collect()).expect("once");
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
