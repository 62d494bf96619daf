//! Step 5's client: step 4's, with streaming done right. The video list is awaited before
//! the number is asked (it arrives on the receiving thread), and a number or a name is taken.
//! The frames go from `recv_chat` to a thread of their own, `stream`, which shows them (a
//! window, or a line each) while chat goes on; `4` or `q` at the menu, or `q` in the window,
//! sends `STOP`, and the server stops sending. The end line counts the frames of each label.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey, LineEnding};
use rsa::{PrivateKey, PublicKey};

use super::seal::{self, ReplayGuard};
use super::wire::{read_frame, split_name, write_frame};
use crate::common::{Args, Screen, input};

/// Every user: name → public key PEM, replaced whole by each `URIF`.
static USERS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
/// The server's video names, from its last `STLI`.
static VIDEOS_LIST: Mutex<Vec<String>> = Mutex::new(Vec::new());
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

/// A stream's frames (`STRM`, `FRAM`, `SEND`), as `recv_chat` hands them to `stream`.
type Play = ([u8; 4], Vec<u8>);

/// `recv_chat`: every frame from the server, in one loop that lasts as long as the connection;
/// a video list goes to the menu, a stream's frames to the `stream` thread.
fn recv_chat(conn: TcpStream, key: PrivateKey, me: String, lists: Sender<()>, play: Sender<Play>) {
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
                Some((sender, sealed)) => match open(&key, &me, &sender, sealed) {
                    Ok((seq, text)) if guard.fresh(&sender, seq) => {
                        println!("\n[message] {sender} : {}", text.trim())
                    }
                    Ok(_) => println!("\nWARNING: a message from {sender} seen before (dropped)"),
                    Err(e) => println!("\nWARNING: a message from {sender} dropped: {e}"),
                },
                None => println!("\na chat with no sender (dropped)"),
            },
            b"ERRR" => println!("\nerror: {}", String::from_utf8_lossy(&payload)),
            b"STRM" | b"FRAM" | b"SEND" => {
                let _ = play.send((tag, payload));
            }
            b"STLI" => match serde_json::from_slice::<Vec<(String, Vec<String>)>>(&payload) {
                Ok(list) => {
                    for (i, (video, labels)) in list.iter().enumerate() {
                        println!("{}. {video} ({})", i + 1, labels.join(", "));
                    }
                    *get(&VIDEOS_LIST) = list.into_iter().map(|(video, _)| video).collect();
                    let _ = lists.try_send(());
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

/// The `stream` thread: shows each stream's frames (`FRAM`: index, label, JPEG), in a window
/// or as a line each, and ends it with a line counting the frames of each label. `q` in the
/// window sends `STOP`.
fn player(events: Receiver<Play>, conn: TcpStream, windowed: bool) {
    let mut screen = Screen { title: String::new(), windowed };
    let mut labels: BTreeMap<String, u32> = BTreeMap::new();
    for (tag, payload) in events {
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
        match (&tag, payload.get(..5)) {
            (b"FRAM", Some(head)) => {
                let index = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                let Some((label, jpeg)) = payload[5..].split_at_checked(head[4].into()) else {
                    continue;
                };
                match screen.show(index + 1, jpeg) {
                    Ok(quit) => {
                        *labels.entry(String::from_utf8_lossy(label).into()).or_default() += 1;
                        if quit {
                            send(&conn, b"STOP", b"");
                        }
                    }
                    Err(e) => println!("frame {}: does not decode: {e}", index + 1),
                }
            }
            (b"STRM", _) => {
                screen.title = format!("Streaming : {}", json["video"].as_str().unwrap_or("?"));
                println!("{}: {} frames at {} fps", screen.title, json["total"], json["fps"]);
                labels.clear();
            }
            _ => {
                let counts: Vec<String> = labels.iter().map(|(l, n)| format!("{l}: {n}")).collect();
                let (shown, why) = (labels.values().sum::<u32>(), &json["why"]);
                println!("Stream ended: {shown} frames ({}), {why}", counts.join(", "));
                screen.close();
            }
        }
    }
}

/// `2` at the menu: the list (awaited), then a video by its number or name.
fn stream(conn: &TcpStream, lists: &Receiver<()>) {
    while lists.try_recv().is_ok() {}
    send(conn, b"LIST", b"");
    if lists.recv_timeout(Duration::from_secs(5)).is_err() {
        println!("The server sent no video list.");
        return;
    }
    let Some(choice) = input("video number: ") else { return };
    let video = {
        let list = get(&VIDEOS_LIST);
        let n = choice.trim().parse::<usize>().ok();
        let by_number = n.and_then(|n| list.get(n.checked_sub(1)?).cloned());
        by_number.or_else(|| list.iter().find(|v| **v == choice.trim()).cloned())
    };
    match video {
        Some(video) => send(conn, b"PLAY", video.as_bytes()),
        None => println!("No video {choice} in the list."),
    }
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
    let (lists, listed) = bounded(1);
    let (play, events) = bounded(64);
    let (reader, receiving_key, me) = (conn.try_clone()?, key.clone(), name.clone());
    thread::Builder::new()
        .name("recv_chat".into())
        .spawn(move || recv_chat(reader, receiving_key, me, lists, play))?;
    let stopper = conn.try_clone()?;
    thread::Builder::new()
        .name("stream".into())
        .spawn(move || player(events, stopper, windowed))?;
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
                stream(&conn, &listed);
                continue;
            }
            "4" | "q" => {
                send(&conn, b"STOP", b"");
                continue;
            }
            "3" => break,
            other => {
                println!("{other} is not a service: type 1, 2 or 3 (4 stops a stream).");
                continue;
            }
        };
        let _ = worker.join();
    }
    send(&conn, b"QUIT", b"");
    std::process::exit(0)
}
