//! Step 0, the literal port: the Python original's server with its design kept: its protocol
//! byte for byte (no framing: a message is whatever one read returns), a thread per client,
//! shared globals, `send` where `sendall` was meant, and its bugs. Written in Rust from the
//! behaviour docs/PYTHON_TO_RUST.md describes (the original has no licence: nothing of its text
//! is here), so that `make compare` can tell how much of the difference is the language and how
//! much the design.
//!
//! Read it beside `210030039_server.py` at de5e0f5; the comments give its line numbers. The one
//! change Rust forces: the shared dictionary and socket list sit behind a `Mutex` (Python's
//! interpreter lock hid that they are shared). Liberties: `--bind ADDR` (the original binds its
//! host name's address on port 1234), `--videos DIR` (it reads the working folder), and a log
//! line at the end of each stream saying how many frames were sent of those announced. Its log
//! lines are its own words, not the original's.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};

use crate::common::{self, Args};

/// Every user: name → public key PEM, as the client sent it (server 13).
/// In join order, as a Python `dict` keeps its keys (a name joining again keeps its place).
static CLIENT_DICT: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
/// Every socket accepted, joined or not: the broadcasts go to all of them (server 16, 184).
static CLIENT_SOCKETS: Mutex<Vec<Arc<TcpStream>>> = Mutex::new(Vec::new());
/// The `.mp4` files of the folder, and the video names, cut at the first `_`, from a set:
/// their order changes from run to run, and the client picks by number (server 19-28).
static VIDEOS: OnceLock<Vec<String>> = OnceLock::new();
static VIDEOS_UNIQUE: OnceLock<Vec<String>> = OnceLock::new();

/// One `recv(n)`: whatever has arrived, up to `n` bytes; empty when the peer has closed.
fn recv(conn: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    let got = conn.read(&mut buf).unwrap_or(0);
    buf.truncate(got);
    buf
}

/// One `send`: one write, whose count is not looked at (a short write loses the rest). A
/// failed write is the exception that ends the calling thread (`?`).
fn send(mut conn: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    conn.write(bytes).map(|_| ())
}

/// To every socket accepted (server 53-54, 67-68, 165-166), one after the other, in the
/// calling thread: a client that stops reading blocks it there. The list is copied first, as
/// Python's `for` walks a list other threads may change; no lock is held while writing. A dead
/// socket ends the thread of whoever is broadcasting, not its own.
fn broadcast(bytes: &[u8]) -> io::Result<()> {
    let sockets = CLIENT_SOCKETS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for c in &sockets {
        send(c, bytes)?;
    }
    Ok(())
}

/// The user list as Python's `json.dumps` writes it: `", "` and `": "` between items, in join
/// order. Its length decides where a client's `recv(1024)` cuts it (client 83).
fn users_info() -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let dict = CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner());
    let items: Vec<String> =
        dict.iter().map(|(name, key)| format!("{}: {}", quote(name), quote(key))).collect();
    format!("{{{}}}", items.join(", "))
}

/// One client, from its name to its `[DISCONNECT]` (server 42-172).
// Clippy sees what the original's reader may not: the outer loop never loops (server 43).
#[allow(clippy::never_loop)]
fn handle_client(mut conn: TcpStream) -> io::Result<()> {
    // A loop whose body never finishes a turn: every way out ends the thread (server 43).
    loop {
        let username = String::from_utf8_lossy(&recv(&mut conn, 1024)).trim().to_owned();
        send(&conn, b"OK")?;
        let user_public_key = String::from_utf8_lossy(&recv(&mut conn, 4096)).into_owned();
        let count = {
            let mut dict = CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner());
            // A taken name is overwritten: messages for the first user go to the second's key.
            match dict.iter_mut().find(|(name, _)| *name == username) {
                Some(entry) => entry.1 = user_public_key,
                None => dict.push((username.clone(), user_public_key)),
            }
            dict.len()
        };
        println!("joined: {username} ({count} users)");
        broadcast(format!("URIF{}", users_info()).as_bytes())?;
        loop {
            let service = recv(&mut conn, 1024);
            match &service[..] {
                b"[CHAT]" => {
                    println!("chat mode: {username}");
                    loop {
                        // A closed connection reads empty, which is not QUIT: it is "sent" to
                        // everyone, and read again, for ever (a core spins).
                        let msg = recv(&mut conn, 8192);
                        if msg == b"QUIT" {
                            break;
                        }
                        broadcast(&msg)?;
                    }
                }
                b"[STREAM]" => stream(&mut conn, &username)?,
                b"[DISCONNECT]" => {
                    let mut dict = CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(at) = dict.iter().position(|(name, _)| *name == username) else {
                        // A second user of the same name leaving: Python's KeyError.
                        eprintln!("{username} left twice: no such key (the thread ends)");
                        return Ok(());
                    };
                    dict.remove(at);
                    drop(dict);
                    let me = conn.peer_addr().ok();
                    CLIENT_SOCKETS
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .retain(|c| c.peer_addr().ok() != me);
                    broadcast(format!("URIF{}", users_info()).as_bytes())?;
                    println!("left: {username} (the list is sent to everyone)");
                    return Ok(());
                }
                // Anything else, an empty read included: the thread ends, the name and the
                // socket stay listed.
                _ => {
                    println!("{username}: not a service; the thread ends, the name stays listed");
                    return Ok(());
                }
            }
        }
    }
}

/// `[STREAM]`: the list, the choice, then the frames (server 70-157).
fn stream(conn: &mut TcpStream, username: &str) -> io::Result<()> {
    let videos_data = serde_json::to_string(VIDEOS_UNIQUE.get().expect("set at start"))?;
    send(conn, &[b"STLI".as_slice(), &(videos_data.len() as u32).to_be_bytes()].concat())?;
    send(conn, videos_data.as_bytes())?;
    let video_to_play = String::from_utf8_lossy(&recv(conn, 1024)).trim().to_owned();
    // Every file whose name starts with the request, sorted as strings: `1080p` before `144p`.
    let mut resolutions: Vec<&String> = VIDEOS
        .get()
        .expect("set at start")
        .iter()
        .filter(|f| f.starts_with(&video_to_play))
        .collect();
    resolutions.sort();
    // Nothing matched: Python's IndexError ends the thread, and the client waits for ever.
    let Some(first) = resolutions.first() else { return Ok(()) };
    let num_resolution = resolutions.len() as u32;
    // The count announced is the first file's, whatever the others hold.
    let limit = common::frame_count(Path::new(first));
    send(conn, &[b"STRM".as_slice(), &limit.to_be_bytes()].concat())?;
    println!("stream: {username} asked for {video_to_play}");
    let (mut frame_number, mut sent) = (0, 0);
    let mut frame_delta = limit / num_resolution;
    let remain = limit % num_resolution;
    // The remainder: frame 0 of the first file, `remain` times, each from a capture opened
    // anew and never released; and every segment grows by one frame for each.
    for _ in 0..remain {
        let mut cap = common::open(Path::new(first), frame_number);
        let Some(encoded) = common::next_jpeg(&mut cap) else { break };
        if let Some(encoded) = encoded {
            send_frame(conn, &encoded)?;
            sent += 1;
        }
        frame_delta += 1;
    }
    for file in &resolutions {
        println!("stream: {file} to {username}");
        let mut cap = common::open(Path::new(file), frame_number);
        for _ in 0..frame_delta {
            let Some(encoded) = common::next_jpeg(&mut cap) else { break };
            // A frame that does not encode is skipped without a word.
            if let Some(encoded) = encoded {
                send_frame(conn, &encoded)?;
                sent += 1;
            }
        }
        frame_number += frame_delta;
    }
    println!("stream ended for {username}: {sent} of {limit} frames sent");
    Ok(())
}

/// An 8-byte length, then the JPEG, each with `sendall` (server 152-154).
fn send_frame(conn: &mut TcpStream, encoded: &[u8]) -> io::Result<()> {
    conn.write_all(&(encoded.len() as u64).to_be_bytes())?;
    conn.write_all(encoded)
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_current_dir(&args.videos)?;
    let videos = common::mp4_files(Path::new("."))?;
    // A video's name is the file's up to its first `_`; the names go through a set, whose
    // order is new in each run (a Rust `HashSet` is seeded at random, as Python's string hash).
    let unique: HashSet<String> =
        videos.iter().map(|f| f.split('_').next().unwrap_or("").to_owned()).collect();
    VIDEOS.set(videos).expect("once");
    VIDEOS_UNIQUE.set(unique.into_iter().collect()).expect("once");
    // The server's key pair: made, sent to every client, never used (server 31, 183).
    let key = rsa::PrivateKey::new(&mut rand::rng(), 1024)?;
    let public_pem = key.to_public_key().to_pkcs1_pem(LineEnding::LF)?;
    let server_socket = TcpListener::bind(&args.bind)?;
    println!("listening on {}", server_socket.local_addr()?);
    for conn in server_socket.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = send(&conn, public_pem.as_bytes());
        if let Ok(listed) = conn.try_clone() {
            CLIENT_SOCKETS.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::new(listed));
        }
        // The thread's error (Python's exception) ends it alone.
        thread::spawn(move || {
            if let Err(e) = handle_client(conn) {
                eprintln!("client thread ended: {e}");
            }
        });
    }
    Ok(())
}
