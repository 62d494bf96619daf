//! Step 4's client: step 3's, with sealing done right (`seal.rs`). Each message is a hybrid
//! envelope for its recipient, signed by the sender's 2048-bit key and numbered; a received one
//! is checked against the key the directory lists for the name the server stamped, and dropped
//! with a warning when the signature fails or its number was seen before (a replay). Texts may
//! be 4096 bytes long; the original's 117-byte block is gone, and PKCS#1 v1.5 with it.
//!
//! Still as in step 3: the original's streaming.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey, LineEnding};
use rsa::{PrivateKey, PublicKey};

use super::seal::{self, ReplayGuard};
use super::wire::{read_frame, split_name, write_frame};
use crate::common::{Args, Screen, input};

/// Every user: name → public key PEM, replaced whole by each `URIF`.
static USERS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
/// The server's video names, from its last `STLI`.
static VIDEOS_LIST: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// The video being streamed: the window's title.
static VIDEO_TO_STREAM: Mutex<String> = Mutex::new(String::new());
/// The next message's sequence number. It starts from the clock (in microseconds), so a client
/// started again goes on above the numbers its peers have seen.
static SEQ: AtomicU64 = AtomicU64::new(0);

fn get<T>(global: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    global.lock().unwrap_or_else(|p| p.into_inner())
}

fn send(conn: &TcpStream, tag: &[u8; 4], payload: &[u8]) {
    let _ = write_frame(conn, tag, payload);
}

/// `send_chat`: the user list, a name, a message, until `QUIT` (which only goes home).
fn send_chat(conn: TcpStream, me: &PrivateKey, name: &str) {
    println!("Chat: type a user's name, then your message. The name QUIT goes back home.");
    print_users();
    loop {
        let Some(partner) = input("to: ") else { return };
        if partner == "QUIT" {
            return;
        }
        let Some(pem) = get(&USERS).get(&partner).cloned() else {
            println!("No user named {partner}; pick one of the list.");
            print_users();
            continue;
        };
        let Some(text) = input("message: ") else { return };
        let seq = SEQ.fetch_add(1, Ordering::SeqCst);
        let sealed = PublicKey::from_pkcs1_pem(&pem)
            .map_err(|e| e.to_string())
            .and_then(|key| seal::seal(me, name, &partner, &key, seq, &text));
        match sealed {
            Ok(sealed) => send(&conn, b"CHAT", &[partner.as_bytes(), b"\n", &sealed].concat()),
            Err(e) => println!("Not sent: {e}"),
        }
    }
}

fn print_users() {
    println!("-- users --");
    for user in get(&USERS).keys() {
        println!("{user}");
    }
}

/// A stream being shown: how many frames were announced, and shown so far.
struct Showing {
    total: u32,
    shown: u32,
    screen: Screen,
}

/// `recv_chat`: every frame from the server, in one loop that lasts as long as the connection.
fn recv_chat(conn: TcpStream, key: PrivateKey, name: String, windowed: bool) {
    let mut showing: Option<Showing> = None;
    let mut guard = ReplayGuard::default();
    loop {
        let (tag, payload) = match read_frame(&conn) {
            Ok(frame) => frame,
            Err(e) => {
                println!("Disconnected from server ({e})");
                std::process::exit(1);
            }
        };
        match &tag {
            b"URIF" => match serde_json::from_slice(&payload) {
                Ok(users) => {
                    *get(&USERS) = users;
                    println!("\n[users] someone joined or left (the list is new)\n");
                }
                Err(e) => eprintln!("a user list that does not parse: {e}"),
            },
            // Checked against the sender's key from the directory, then against replays.
            b"CHAT" => match split_name(&payload) {
                Some((sender, sealed)) => match open(&key, &name, &sender, sealed) {
                    Ok((seq, text)) if guard.fresh(&sender, seq) => {
                        println!("\n[message] {sender} : {}", text.trim())
                    }
                    Ok(_) => println!("\nWARNING: a message from {sender} seen before (dropped)"),
                    Err(e) => println!("\nWARNING: a message from {sender} dropped: {e}"),
                },
                None => println!("\na chat with no sender (dropped)"),
            },
            b"ERRR" => println!("\nerror: {}", String::from_utf8_lossy(&payload)),
            b"STRM" => {
                let total = payload.iter().take(4).fold(0u32, |n, &b| n << 8 | u32::from(b));
                let title = format!("Streaming : {}", get(&VIDEO_TO_STREAM));
                showing = Some(Showing { total, shown: 0, screen: Screen { title, windowed } });
            }
            b"FRAM" => showing = show(showing, &payload),
            b"STLI" => match serde_json::from_slice::<Vec<String>>(&payload) {
                Ok(list) => {
                    for (i, video) in list.iter().enumerate() {
                        println!("{}. {video}", i + 1);
                    }
                    *get(&VIDEOS_LIST) = list;
                }
                Err(e) => eprintln!("a video list that does not parse: {e}"),
            },
            _ => println!("not a message this client knows"),
        }
    }
}

/// An envelope from `sender`, opened with the key the directory lists for that name.
fn open(key: &PrivateKey, me: &str, sender: &str, sealed: &[u8]) -> Result<(u64, String), String> {
    let pem = get(&USERS).get(sender).cloned().ok_or("the sender is not listed")?;
    let their_key = PublicKey::from_pkcs1_pem(&pem).map_err(|e| e.to_string())?;
    seal::open(key, me, sender, &their_key, sealed)
}

/// One frame of the stream being shown; it ends after as many as were announced, or at `q`.
fn show(showing: Option<Showing>, jpeg: &[u8]) -> Option<Showing> {
    let Some(mut s) = showing else {
        println!("a frame after the end of its stream (dropped)");
        return None;
    };
    let quit = match s.screen.show(s.shown + 1, jpeg) {
        Ok(quit) => {
            s.shown += 1;
            quit
        }
        Err(e) => {
            println!("a frame that does not decode: {e}");
            false
        }
    };
    if quit || s.shown >= s.total {
        println!("Stream ended: {} frames", s.shown);
        s.screen.close();
        return None;
    }
    Some(s)
}

/// `stream`: asks for the list, then a video by its number in the last list, sent by name.
fn stream(conn: TcpStream) {
    send(&conn, b"LIST", b"");
    let Some(choice) = input("video number: ") else { return };
    let video = {
        let list = get(&VIDEOS_LIST);
        let n = choice.trim().parse::<usize>().ok();
        n.and_then(|n| list.get(n.checked_sub(1)?).cloned())
    };
    let Some(video) = video else {
        println!("No video {choice} in the list.");
        return;
    };
    println!("Streaming {video}");
    *get(&VIDEO_TO_STREAM) = video.clone();
    send(&conn, b"PLAY", video.as_bytes());
}

/// The join: one `JOIN` frame; a refusal ends the client with its reason.
fn join(conn: &TcpStream, public_pem: &str) -> Result<String, Box<dyn std::error::Error>> {
    let Some(name) = input("Your name: ") else { std::process::exit(0) };
    send(conn, b"JOIN", &[name.as_bytes(), b"\n", public_pem.as_bytes()].concat());
    loop {
        match read_frame(conn)? {
            (tag, _) if &tag == b"OKAY" => break,
            (tag, why) if &tag == b"ERRR" => {
                eprintln!(
                    "chatroom-step: the server refused the name: {}",
                    String::from_utf8_lossy(&why)
                );
                std::process::exit(2);
            }
            _ => {}
        }
    }
    let (_, users) = read_frame(conn)?;
    *get(&USERS) = serde_json::from_slice(&users)?;
    Ok(name)
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let windowed = args.windowed();
    let key = PrivateKey::new(&mut rand::rng(), 2048)?;
    let public_pem = key.to_public_key().to_pkcs1_pem(LineEnding::LF)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    SEQ.store(now.as_micros() as u64, Ordering::SeqCst);
    let conn = TcpStream::connect(&args.server)?;
    let name = join(&conn, &public_pem)?;
    let (reader, receiving_key, me) = (conn.try_clone()?, key.clone(), name.clone());
    thread::Builder::new()
        .name("recv_chat".into())
        .spawn(move || recv_chat(reader, receiving_key, me, windowed))?;
    loop {
        println!("Home: pick a service.");
        let Some(choice) = input("1 chat, 2 stream, 3 quit: ") else { break };
        let worker = match choice.trim() {
            "1" => {
                let (conn, key, name) = (conn.try_clone()?, key.clone(), name.clone());
                let chat = move || send_chat(conn, &key, &name);
                thread::Builder::new().name("send_chat".into()).spawn(chat)?
            }
            "2" => {
                let conn = conn.try_clone()?;
                thread::Builder::new().name("stream".into()).spawn(move || stream(conn))?
            }
            "3" => break,
            other => {
                println!("{other} is not a service: type 1, 2 or 3.");
                continue;
            }
        };
        let _ = worker.join();
    }
    send(&conn, b"QUIT", b"");
    std::process::exit(0)
}
