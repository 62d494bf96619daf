//! Step 1's client: step 0's (the home menu on the main thread, `send_chat` and `stream`
//! started from it, `recv_chat` reading everything, three globals) with framing. Every message
//! is a whole frame, so `recv_chat` is one loop over frames: a user list is never cut, a video
//! list never glued to its header, and a stream's frames are frames like any other, so the
//! receiving thread no longer gives itself to the stream and ends with it (step 0 did).
//!
//! Still as in the original: every chat reaches every client, and each tries to decrypt it; the
//! sender's name is typed inside the message by the sender; RSA PKCS#1 v1.5 with a 1024-bit
//! key, so a message over 117 bytes cannot be sent; the menu's choice is Python's index.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;

use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey, LineEnding};
use rsa::{Pkcs1v15Encrypt, PrivateKey, PublicKey};

use super::wire::{read_frame, write_frame};
use crate::common::{Args, Screen, input};

/// Every user: name → public key PEM, replaced whole by each `URIF` (client 14, 85).
static USERS: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());
/// The server's video names, from its last `STLI` (client 17, 129).
static VIDEOS_LIST: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// The video being streamed: the window's title (client 20, 144).
static VIDEO_TO_STREAM: Mutex<String> = Mutex::new(String::new());

/// A global's value; a thread that panicked holding it leaves it as it was.
fn get<T>(global: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    global.lock().unwrap_or_else(|p| p.into_inner())
}

/// One frame to the server; a failure shows when the next read fails.
fn send(conn: &TcpStream, tag: &[u8; 4], payload: &[u8]) {
    let _ = write_frame(conn, tag, payload);
}

/// The home menu's services, picked by `services[int(choice) - 1]` (client 150, 156): `0` is
/// the last, `[DISCONNECT]`; anything not a number ends the main thread.
const SERVICES: [&str; 3] = ["[CHAT]", "[STREAM]", "[DISCONNECT]"];

fn service(choice: &str) -> Option<&'static str> {
    let n: i64 = choice.trim().parse().ok()?;
    let index = n - 1;
    let index = if index < 0 { index + SERVICES.len() as i64 } else { index };
    SERVICES.get(usize::try_from(index).ok()?).copied()
}

/// `send_chat` (client 56-76): the user list, a name, a message, until `QUIT`. An unknown
/// name or a message too long for one RSA block ends this thread, and the menu comes back.
fn send_chat(conn: TcpStream, name: &str) {
    println!("Chat: type a user's name, then your message. The name QUIT goes back home.");
    loop {
        println!("-- users --");
        for user in get(&USERS).keys() {
            println!("{user}");
        }
        let Some(partner) = input("to: ") else { return };
        if partner == "QUIT" {
            send(&conn, b"QUIT", b"");
            return;
        }
        let Some(text) = input("message: ") else { return };
        let text = format!("{name} : {text}");
        let Some(pem) = get(&USERS).get(&partner).cloned() else {
            eprintln!("no user {partner} (the original's KeyError: its chat thread ends)");
            return;
        };
        let sealed = PublicKey::from_pkcs1_pem(&pem).map_err(|e| e.to_string()).and_then(|key| {
            key.encrypt(&mut rand::rng(), Pkcs1v15Encrypt, text.as_bytes())
                .map_err(|e| e.to_string())
        });
        match sealed {
            Ok(sealed) => send(&conn, b"CHAT", &sealed),
            Err(e) => {
                eprintln!("cannot encrypt for {partner}: {e} (the chat thread ends)");
                return;
            }
        }
    }
}

/// A stream being shown: how many frames were announced, and shown so far.
struct Showing {
    total: u32,
    shown: u32,
    screen: Screen,
}

/// `recv_chat` (client 78-136): every frame from the server, in one loop that lasts as long as
/// the connection. A frame that does not read (the server gone, a length over the limit) ends
/// the client.
fn recv_chat(conn: TcpStream, key: PrivateKey, windowed: bool) {
    let mut showing: Option<Showing> = None;
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
            // Every chat reaches every client: one sealed for somebody else does not decrypt.
            b"CHAT" => match key.decrypt(Pkcs1v15Encrypt, &payload).ok().and_then(for_me) {
                Some(text) => println!("\n[message] {}", text.trim()),
                None => println!(),
            },
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

/// One frame of the stream being shown; the stream ends after as many as were announced, or at
/// `q` in the window. A frame with no stream on is dropped with a word.
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

/// A decrypted chat, if it was sealed for this client: the `rsa` crate answers someone else's
/// message with random bytes (implicit rejection), so a message is ours by its form: text, a
/// listed user's name, then ` : `.
fn for_me(plain: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(plain).ok()?;
    let sender = text.split(" : ").next()?;
    get(&USERS).contains_key(sender).then_some(text)
}

/// `stream` (client 138-147): a video by its number in the last list, sent by name.
fn stream(conn: TcpStream) {
    let Some(choice) = input("video number: ") else { return };
    let Ok(n) = choice.trim().parse::<i64>() else {
        eprintln!("not a number (the original's ValueError: the thread ends)");
        return;
    };
    let video = {
        let list = get(&VIDEOS_LIST);
        let index = if n - 1 < 0 { n - 1 + list.len() as i64 } else { n - 1 };
        usize::try_from(index).ok().and_then(|i| list.get(i).cloned())
    };
    let Some(video) = video else {
        eprintln!("no video {n} in the list (the original's IndexError: the thread ends)");
        return;
    };
    println!("Streaming {video}");
    *get(&VIDEO_TO_STREAM) = video.clone();
    send(&conn, b"PLAY", video.as_bytes());
}

/// The payload of the next frame tagged `tag`. The server broadcasts to sockets that have not
/// joined yet, so other frames may come first: with framing they are skipped whole.
fn expect(conn: &TcpStream, tag: &[u8; 4]) -> std::io::Result<Vec<u8>> {
    loop {
        let (got, payload) = read_frame(conn)?;
        if &got == tag {
            return Ok(payload);
        }
    }
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let windowed = args.windowed();
    // A new 1024-bit key pair each run (client 23).
    let key = PrivateKey::new(&mut rand::rng(), 1024)?;
    let public_pem = key.to_public_key().to_pkcs1_pem(LineEnding::LF)?;
    let conn = TcpStream::connect(&args.server)?;
    // The server's key: read, never used (client 36).
    expect(&conn, b"PKEY")?;
    let Some(name) = input("Your name: ") else { return Ok(()) };
    send(&conn, b"NAME", name.as_bytes());
    expect(&conn, b"OKAY")?;
    send(&conn, b"PKEY", public_pem.as_bytes());
    // The first user list: a whole frame, however long.
    *get(&USERS) = serde_json::from_slice(&expect(&conn, b"URIF")?)?;
    let reader = conn.try_clone()?;
    thread::Builder::new()
        .name("recv_chat".into())
        .spawn(move || recv_chat(reader, key, windowed))?;
    // The home menu (client 153-178).
    loop {
        println!("Home: pick a service.");
        let Some(choice) = input("1 chat, 2 stream, 3 quit: ") else { break };
        let Some(service) = service(&choice) else {
            eprintln!("not a service (the original's main thread ends here)");
            break;
        };
        send(&conn, b"SERV", service.as_bytes());
        let worker = match service {
            "[CHAT]" => {
                let (conn, name) = (conn.try_clone()?, name.clone());
                thread::Builder::new()
                    .name("send_chat".into())
                    .spawn(move || send_chat(conn, &name))?
            }
            "[STREAM]" => {
                let conn = conn.try_clone()?;
                thread::Builder::new().name("stream".into()).spawn(move || stream(conn))?
            }
            _ => std::process::exit(0),
        };
        let _ = worker.join();
    }
    // As in the original, the receiving thread keeps the process alive after the menu ends.
    loop {
        thread::park();
    }
}
