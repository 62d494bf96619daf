//! `chatroom-original`: the Python original's server, with its design kept: its protocol byte
//! for byte (no framing: a message is whatever one read returns), a thread per client, shared
//! globals, `send` where `sendall` was meant, and its bugs. Written in Rust from the behaviour
//! docs/PYTHON_TO_RUST.md describes (the original has no licence: nothing of its text is here),
//! so that `make compare` can tell how much of the difference is the language and how much the
//! design: the Python original, this port, and `chatroom server` side by side.
//!
//! Read it beside `210030039_server.py` at de5e0f5; the comments give its line numbers. The one
//! change Rust forces: the shared dictionary and socket list sit behind a `Mutex` (Python's
//! interpreter lock hid that they are shared). One liberty: `--bind ADDR` (the original binds
//! its host name's address on port 1234) and `--videos DIR` (it reads the working folder).
//!
//! Not part of the product: run it only to compare (`make compare`). Its log lines are its
//! own words, not the original's.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::thread;

use opencv::core::Vector;
use opencv::prelude::*;
use opencv::{imgcodecs, videoio};
use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};

/// Every user: name → public key PEM, as the client sent it (server 13).
static CLIENT_DICT: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
/// Every socket accepted, joined or not: the broadcasts go to all of them (server 16, 184).
static CLIENT_SOCKETS: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());
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
fn send(conn: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    conn.write(bytes).map(|_| ())
}

/// To every socket accepted (server 53-54, 67-68, 165-166). A dead one ends the thread of
/// whoever is broadcasting, not its own.
fn broadcast(bytes: &[u8]) -> io::Result<()> {
    for c in CLIENT_SOCKETS.lock().unwrap_or_else(|p| p.into_inner()).iter_mut() {
        send(c, bytes)?;
    }
    Ok(())
}

fn users_info() -> String {
    serde_json::to_string(&*CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_default()
}

/// One client, from its name to its `[DISCONNECT]` (server 42-172).
// Clippy sees what the original's reader may not: the outer loop never loops (server 43).
#[allow(clippy::never_loop)]
fn handle_client(mut conn: TcpStream) -> io::Result<()> {
    // A loop whose body never finishes a turn: every way out ends the thread (server 43).
    loop {
        let username = String::from_utf8_lossy(&recv(&mut conn, 1024)).trim().to_owned();
        send(&mut conn, b"OK")?;
        let user_public_key = String::from_utf8_lossy(&recv(&mut conn, 4096)).into_owned();
        let count = {
            let mut dict = CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner());
            // A taken name is overwritten: messages for the first user go to the second's key.
            dict.insert(username.clone(), user_public_key);
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
                    if CLIENT_DICT
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&username)
                        .is_none()
                    {
                        // A second user of the same name leaving: Python's KeyError.
                        eprintln!("{username} left twice: no such key (the thread ends)");
                        return Ok(());
                    }
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
    let limit = frame_count(first);
    send(conn, &[b"STRM".as_slice(), &limit.to_be_bytes()].concat())?;
    println!("stream: {username} asked for {video_to_play}");
    let mut frame_number = 0;
    let mut frame_delta = limit / num_resolution;
    let remain = limit % num_resolution;
    // The remainder: frame 0 of the first file, `remain` times, each from a capture opened
    // anew and never released; and every segment grows by one frame for each.
    for _ in 0..remain {
        let mut cap = open(first, frame_number);
        let Some(encoded) = next_jpeg(&mut cap) else { break };
        if let Some(encoded) = encoded {
            send_frame(conn, &encoded)?;
        }
        frame_delta += 1;
    }
    for file in &resolutions {
        println!("stream: {file} to {username}");
        let mut cap = open(file, frame_number);
        for _ in 0..frame_delta {
            let Some(encoded) = next_jpeg(&mut cap) else { break };
            // A frame that does not encode is skipped without a word.
            if let Some(encoded) = encoded {
                send_frame(conn, &encoded)?;
            }
        }
        frame_number += frame_delta;
    }
    println!("stream: done for {username}");
    Ok(())
}

fn frame_count(file: &str) -> u32 {
    videoio::VideoCapture::from_file(file, videoio::CAP_ANY)
        .and_then(|cap| cap.get(videoio::CAP_PROP_FRAME_COUNT))
        .map_or(0, |n| n as u32)
}

fn open(file: &str, position: u32) -> Option<videoio::VideoCapture> {
    let mut cap = videoio::VideoCapture::from_file(file, videoio::CAP_ANY).ok()?;
    cap.set(videoio::CAP_PROP_POS_FRAMES, f64::from(position)).ok()?;
    Some(cap)
}

/// The next frame as a JPEG at quality 90: `None` at the end of the file (or no capture),
/// `Some(None)` for a frame that does not encode.
fn next_jpeg(cap: &mut Option<videoio::VideoCapture>) -> Option<Option<Vec<u8>>> {
    let cap = cap.as_mut()?;
    let mut frame = Mat::default();
    if !cap.read(&mut frame).unwrap_or(false) || frame.empty() {
        return None;
    }
    let mut encoded = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, 90]);
    let ok = imgcodecs::imencode(".jpg", &frame, &mut encoded, &params).unwrap_or(false);
    Some(ok.then(|| encoded.to_vec()))
}

/// An 8-byte length, then the JPEG, each with `sendall` (server 152-154).
fn send_frame(conn: &mut TcpStream, encoded: &[u8]) -> io::Result<()> {
    conn.write_all(&(encoded.len() as u64).to_be_bytes())?;
    conn.write_all(encoded)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let bind = flag("--bind").map_or("127.0.0.1:1234", String::as_str);
    if let Some(dir) = flag("--videos") {
        std::env::set_current_dir(dir)?;
    }
    let mut videos: Vec<String> = std::fs::read_dir(".")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".mp4"))
        .collect();
    videos.sort();
    let unique: HashSet<String> =
        videos.iter().map(|f| f.split('_').next().unwrap_or("").to_owned()).collect();
    VIDEOS.set(videos).expect("once");
    VIDEOS_UNIQUE.set(unique.into_iter().collect()).expect("once");
    // The server's key pair: made, sent to every client, never used (server 31, 183).
    let key = rsa::PrivateKey::new(&mut rand::rng(), 1024)?;
    let public_pem = key.to_public_key().to_pkcs1_pem(LineEnding::LF)?;
    let server_socket = TcpListener::bind(bind)?;
    println!("listening on {bind}");
    for conn in server_socket.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = send(&mut conn, public_pem.as_bytes());
        if let Ok(listed) = conn.try_clone() {
            CLIENT_SOCKETS.lock().unwrap_or_else(|p| p.into_inner()).push(listed);
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
