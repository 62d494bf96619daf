//! Step 1's server: step 0's design (a thread per client, shared globals, modes, everything
//! broadcast to every socket accepted) with one change, framing. Every message is a frame
//! (`wire.rs`): a tag, a length, a payload, read whole. What that alone mends: a message is
//! never glued to the next or cut in two, and a closed connection is an error that ends its
//! thread instead of an empty "message" relayed for ever (step 0 spun a core there).
//!
//! Frames, client to server: `NAME` (the name), `PKEY` (the public key PEM), `SERV` (a service:
//! `[CHAT]`, `[STREAM]`, `[DISCONNECT]`), `CHAT` (a ciphertext), `QUIT` (leave chat), `PLAY` (a
//! video's name). Server to client: `PKEY` (the server's key), `OKAY`, `URIF` (the user list as
//! JSON), `CHAT`, `STLI` (the video names as JSON), `STRM` (the frame count, `u32`), `FRAM` (a
//! JPEG).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use rsa::pkcs1::{EncodeRsaPublicKey, LineEnding};

use super::wire::{read_frame, write_frame};
use crate::common::{self, Args};

/// Every user: name → public key PEM (server 13).
static CLIENT_DICT: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
/// Every socket accepted, joined or not: the broadcasts go to all of them (server 16, 184).
static CLIENT_SOCKETS: Mutex<Vec<Arc<TcpStream>>> = Mutex::new(Vec::new());
/// The `.mp4` files, and the video names cut at the first `_`, from a set (server 19-28).
static VIDEOS: OnceLock<Vec<String>> = OnceLock::new();
static VIDEOS_UNIQUE: OnceLock<Vec<String>> = OnceLock::new();

/// One frame to every socket accepted, in the calling thread. A dead socket ends the thread of
/// whoever is broadcasting.
fn broadcast(tag: &[u8; 4], payload: &[u8]) -> io::Result<()> {
    let sockets = CLIENT_SOCKETS.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for c in &sockets {
        write_frame(&**c, tag, payload)?;
    }
    Ok(())
}

fn users_info() -> String {
    serde_json::to_string(&*CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_default()
}

/// A frame's payload as text.
fn text(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload).trim().to_owned()
}

/// One client, from its name to its `[DISCONNECT]` (server 42-172). Every read is a whole
/// frame; one that fails (the client gone) ends the thread with `?`, the name still listed.
fn handle_client(conn: TcpStream) -> io::Result<()> {
    let (_, name) = read_frame(&conn)?;
    let username = text(&name);
    write_frame(&conn, b"OKAY", b"")?;
    let (_, user_public_key) = read_frame(&conn)?;
    let count = {
        let mut dict = CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner());
        // A taken name is overwritten: messages for the first user go to the second's key.
        dict.insert(username.clone(), text(&user_public_key));
        dict.len()
    };
    println!("joined: {username} ({count} users)");
    broadcast(b"URIF", users_info().as_bytes())?;
    loop {
        let (_, service) = read_frame(&conn)?;
        match &service[..] {
            b"[CHAT]" => {
                println!("chat mode: {username}");
                loop {
                    match read_frame(&conn)? {
                        (tag, _) if &tag == b"QUIT" => break,
                        (tag, msg) => broadcast(&tag, &msg)?,
                    }
                }
            }
            b"[STREAM]" => stream(&conn, &username)?,
            b"[DISCONNECT]" => {
                CLIENT_DICT.lock().unwrap_or_else(|p| p.into_inner()).remove(&username);
                let me = conn.peer_addr().ok();
                CLIENT_SOCKETS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|c| c.peer_addr().ok() != me);
                broadcast(b"URIF", users_info().as_bytes())?;
                println!("left: {username} (the list is sent to everyone)");
                return Ok(());
            }
            _ => {
                println!("{username}: not a service; the thread ends, the name stays listed");
                return Ok(());
            }
        }
    }
}

/// `[STREAM]`: the list, the choice, then the frames (server 70-157), each a `FRAM` frame.
fn stream(conn: &TcpStream, username: &str) -> io::Result<()> {
    let videos_data = serde_json::to_string(VIDEOS_UNIQUE.get().expect("set at start"))?;
    write_frame(conn, b"STLI", videos_data.as_bytes())?;
    let (_, video) = read_frame(conn)?;
    let video_to_play = text(&video);
    // Every file whose name starts with the request, sorted as strings: `1080p` before `144p`.
    let mut resolutions: Vec<&String> = VIDEOS
        .get()
        .expect("set at start")
        .iter()
        .filter(|f| f.starts_with(&video_to_play))
        .collect();
    resolutions.sort();
    let Some(first) = resolutions.first() else { return Ok(()) };
    let num_resolution = resolutions.len() as u32;
    // The count announced is the first file's, whatever the others hold.
    let limit = common::frame_count(Path::new(first));
    write_frame(conn, b"STRM", &limit.to_be_bytes())?;
    println!("stream: {username} asked for {video_to_play}");
    let (mut frame_number, mut sent) = (0, 0);
    let mut frame_delta = limit / num_resolution;
    let remain = limit % num_resolution;
    // The remainder: frame 0 of the first file again, `remain` times, and every segment grows
    // by one frame for each.
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
    // The server's key pair: made, sent to every client, never used (server 31, 183).
    let key = rsa::PrivateKey::new(&mut rand::rng(), 1024)?;
    let public_pem = key.to_public_key().to_pkcs1_pem(LineEnding::LF)?;
    let server_socket = TcpListener::bind(&args.bind)?;
    println!("listening on {}", server_socket.local_addr()?);
    for conn in server_socket.incoming() {
        let Ok(conn) = conn else { continue };
        let _ = write_frame(&conn, b"PKEY", public_pem.as_bytes());
        if let Ok(listed) = conn.try_clone() {
            CLIENT_SOCKETS.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::new(listed));
        }
        thread::spawn(move || {
            if let Err(e) = handle_client(conn) {
                eprintln!("client thread ended: {e}");
            }
        });
    }
    Ok(())
}
