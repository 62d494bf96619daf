//! Step 2's server: step 1's, with routing. The server keeps a directory of the users who
//! have joined (name → key and socket), and every message is routed by it:
//! - a chat names its recipient and goes to that user alone, stamped by the server with the
//!   sender's name (the sender no longer types it, so nobody can write as somebody else);
//! - the directory is a message of its own, sent to members only, never to a connection that
//!   has not joined; a name already taken (ignoring case) is refused, not overwritten;
//! - there are no modes: every request is a frame of its own, valid at any time;
//! - the server's key pair, made and sent but never used since step 0, is gone.
//!
//! Still as in step 1: the sender's thread writes to the recipient's socket itself (so a
//! recipient that stops reading stalls whoever writes to it, and two threads can write one
//! socket at once), a client that drops stays listed, and streaming is the original's.
//!
//! Frames, client to server: `JOIN` (`name\nkey PEM`), `CHAT` (`recipient\nciphertext`),
//! `LIST`, `PLAY` (a video's name), `QUIT`. Server to client: `OKAY`, `ERRR` (a reason),
//! `URIF` (the directory as JSON), `CHAT` (`sender\nciphertext`), `STLI`, `STRM`, `FRAM`.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use super::wire::{read_frame, split_name, write_frame};
use crate::common::{self, Args};

/// A user who has joined: the key others seal for, and the socket chats are written to.
struct Member {
    key: String,
    conn: Arc<TcpStream>,
}

/// The directory: every user who has joined, by name.
static MEMBERS: Mutex<BTreeMap<String, Member>> = Mutex::new(BTreeMap::new());
static VIDEOS: OnceLock<Vec<String>> = OnceLock::new();
static VIDEOS_UNIQUE: OnceLock<Vec<String>> = OnceLock::new();

fn members() -> std::sync::MutexGuard<'static, BTreeMap<String, Member>> {
    MEMBERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The directory (name → key PEM) to every member, in the calling thread.
fn send_directory() -> io::Result<()> {
    let (list, sockets): (BTreeMap<_, _>, Vec<_>) = {
        let members = members();
        let list = members.iter().map(|(n, m)| (n.clone(), m.key.clone())).collect();
        (list, members.values().map(|m| m.conn.clone()).collect())
    };
    let json = serde_json::to_string(&list)?;
    for c in &sockets {
        write_frame(&**c, b"URIF", json.as_bytes())?;
    }
    Ok(())
}

/// Why a name cannot be taken, if it cannot: 1 to 32 of `A-Z a-z 0-9 _ . -`, not `QUIT`, and
/// not a name already joined, ignoring case.
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

/// The join: `JOIN` frames until one names a free name. The directory then goes to everyone.
fn join(conn: &Arc<TcpStream>) -> io::Result<String> {
    loop {
        let (tag, payload) = read_frame(&**conn)?;
        let Some((name, key)) = split_name(&payload).filter(|_| &tag == b"JOIN") else {
            write_frame(&**conn, b"ERRR", b"join first")?;
            continue;
        };
        if let Some(why) = refusal(&name) {
            write_frame(&**conn, b"ERRR", why.as_bytes())?;
            continue;
        }
        let key = String::from_utf8_lossy(key).into_owned();
        members().insert(name.clone(), Member { key, conn: conn.clone() });
        write_frame(&**conn, b"OKAY", b"")?;
        println!("joined: {name}");
        send_directory()?;
        return Ok(name);
    }
}

/// One client: its join, then each request as it comes. A read that fails (the client gone)
/// ends the thread with `?`, the name still listed.
fn handle_client(conn: TcpStream) -> io::Result<()> {
    let conn = Arc::new(conn);
    let username = join(&conn)?;
    loop {
        let (tag, payload) = read_frame(&*conn)?;
        match &tag {
            b"CHAT" => chat(&conn, &username, &payload)?,
            b"LIST" => {
                let videos_data = serde_json::to_string(VIDEOS_UNIQUE.get().expect("set"))?;
                write_frame(&*conn, b"STLI", videos_data.as_bytes())?;
            }
            b"PLAY" => stream(&conn, &username, &String::from_utf8_lossy(&payload))?,
            b"QUIT" => {
                members().remove(&username);
                send_directory()?;
                println!("left: {username}");
                return Ok(());
            }
            _ => write_frame(&*conn, b"ERRR", b"not a request this server knows")?,
        }
    }
}

/// A chat to its recipient alone, with the sender's name stamped on it; an unknown recipient
/// is the sender's error. The write happens here, in the sender's thread.
fn chat(conn: &TcpStream, username: &str, payload: &[u8]) -> io::Result<()> {
    let Some((recipient, sealed)) = split_name(payload) else {
        return write_frame(conn, b"ERRR", b"a chat names its recipient");
    };
    let to = members().get(&recipient).map(|m| m.conn.clone());
    let Some(to) = to else {
        return write_frame(conn, b"ERRR", format!("no user named {recipient}").as_bytes());
    };
    let stamped = [username.as_bytes(), b"\n", sealed].concat();
    write_frame(&*to, b"CHAT", &stamped)
}

/// The frames of a video, as in step 1 (server 81-157): prefix match, string sort, the first
/// file's count, the remainder loop, no pacing, in this thread.
fn stream(conn: &TcpStream, username: &str, video_to_play: &str) -> io::Result<()> {
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
    write_frame(conn, b"STRM", &limit.to_be_bytes())?;
    println!("stream: {username} asked for {video_to_play}");
    let (mut frame_number, mut sent) = (0, 0);
    let mut frame_delta = limit / num_resolution;
    let remain = limit % num_resolution;
    for _ in 0..remain {
        let mut cap = common::open(Path::new(first), frame_number);
        let Some(encoded) = common::next_jpeg(&mut cap) else { break };
        if let Some(encoded) = encoded {
            write_frame(conn, b"FRAM", &encoded)?;
            sent += 1;
        }
        frame_delta += 1;
    }
    for file in &resolutions {
        let mut cap = common::open(Path::new(file), frame_number);
        for _ in 0..frame_delta {
            let Some(encoded) = common::next_jpeg(&mut cap) else { break };
            if let Some(encoded) = encoded {
                write_frame(conn, b"FRAM", &encoded)?;
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
        thread::spawn(move || {
            if let Err(e) = handle_client(conn) {
                eprintln!("client thread ended: {e}");
            }
        });
    }
    Ok(())
}
