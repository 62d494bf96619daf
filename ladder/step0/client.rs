//! Step 0, the literal port: the Python original's client, with its design kept, beside
//! `server.rs`. Its protocol byte for byte, so it talks to the Python server and to Python
//! clients as one of them: the server's key read and dropped, bare strings with no framing (a
//! message is whatever one read returns), the user list as JSON after `URIF`, chat as `CHAT`
//! and an RSA ciphertext, the stream as an 8-byte length and a JPEG, a frame at a time. Its
//! threads: the main one runs the home menu and starts `send_chat` or `stream` and waits for
//! it; `recv_chat` reads everything that arrives. Its globals: the user list, the video list,
//! the video being streamed, each behind a `Mutex` (Python's interpreter lock hid that they
//! are shared). Its bugs: listed in docs/PYTHON_TO_RUST.md, kept here, each where it happens.
//!
//! Written in Rust from the behaviour docs/PYTHON_TO_RUST.md describes (the original has no
//! licence: its prompts and messages are not copied; these are this port's own words). Read it
//! beside `210030039_client.py` at de5e0f5; the comments give its line numbers.
//!
//! **Not the product, and not safe**: the original encrypts each message with RSA's PKCS#1
//! v1.5 padding, straight with the recipient's key, and so does this port, to stay byte for
//! byte. That padding is open to padding-oracle attacks (Bleichenbacher, Marvin); step 4 and
//! the product never use it (hybrid envelopes: RSA-OAEP and RSA-PSS).
//!
//! Liberties: `--server ADDR` (the original joins its host name's address on port 1234), and
//! frames as lines (`frame N: WxH`) when there is no display or the output is not a terminal.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::thread;

use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey, LineEnding};
use rsa::{Pkcs1v15Encrypt, PrivateKey, PublicKey};

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

/// One `recv(n)`: whatever has arrived, up to `n` bytes; empty when the server has closed.
fn recv(conn: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    let got = conn.read(&mut buf).unwrap_or(0);
    buf.truncate(got);
    buf
}

/// One `send`: one write, whose count is not looked at (a short write loses the rest).
fn send(conn: &mut TcpStream, bytes: &[u8]) {
    let _ = conn.write(bytes);
}

/// The home menu's services, picked by `services[int(choice) - 1]` (client 150, 156). Python
/// counts a negative index from the end: `0` is the last, `[DISCONNECT]`, and `-1` the one
/// before. Anything else (not a number, `4`) raises, and the main thread ends.
const SERVICES: [&str; 3] = ["[CHAT]", "[STREAM]", "[DISCONNECT]"];

fn service(choice: &str) -> Option<&'static str> {
    let n: i64 = choice.trim().parse().ok()?;
    let index = n - 1;
    let index = if index < 0 { index + SERVICES.len() as i64 } else { index };
    SERVICES.get(usize::try_from(index).ok()?).copied()
}

/// `send_chat` (client 56-76): the user list, a name, a message, until `QUIT`. An unknown
/// name (Python's `KeyError`) or a message too long for one RSA block ends this thread, and
/// the menu comes back.
fn send_chat(mut conn: TcpStream, name: &str) {
    println!("Chat: type a user's name, then your message. The name QUIT goes back home.");
    loop {
        println!("-- users --");
        for user in get(&USERS).keys() {
            println!("{user}");
        }
        let Some(partner) = input("to: ") else { return };
        if partner == "QUIT" {
            send(&mut conn, b"QUIT");
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
            Ok(sealed) => send(&mut conn, &[b"CHAT".as_slice(), &sealed].concat()),
            Err(e) => {
                eprintln!("cannot encrypt for {partner}: {e} (the chat thread ends)");
                return;
            }
        }
    }
}

/// `recv_chat` (client 78-136): every message from the server, one `recv(1024)` each. It
/// ends at the end of a stream (client 124), so no chat is shown after one; a user list cut
/// by the 1024-byte read fails to parse and ends it too.
fn recv_chat(mut conn: TcpStream, key: PrivateKey, windowed: bool) {
    loop {
        let msg = recv(&mut conn, 1024);
        let (tag, rest) = msg.split_at(msg.len().min(4));
        match tag {
            b"URIF" => match serde_json::from_slice(rest) {
                Ok(users) => {
                    *get(&USERS) = users;
                    println!("\n[users] someone joined (the list is new)\n");
                }
                Err(e) => {
                    eprintln!("a user list that does not parse: {e} (the original's thread ends)");
                    return;
                }
            },
            // Every chat reaches every client (the server broadcasts): one sealed for somebody
            // else does not decrypt, and prints an empty line.
            b"CHAT" => match key.decrypt(Pkcs1v15Encrypt, rest).ok().and_then(for_me) {
                Some(text) => {
                    if !text.trim().is_empty() {
                        println!("\n[message] {}", text.trim());
                    }
                }
                None => println!(),
            },
            b"STRM" => {
                play(&mut conn, rest, windowed);
                return;
            }
            b"STLI" => {
                // The rest of this read is taken as the list's length, whatever else it holds.
                let length = rest.iter().fold(0usize, |n, &b| n.wrapping_shl(8) | usize::from(b));
                let list = recv(&mut conn, length.min(1 << 20));
                match serde_json::from_slice::<Vec<String>>(&list) {
                    Ok(list) => {
                        for (i, video) in list.iter().enumerate() {
                            println!("{}. {video}", i + 1);
                        }
                        *get(&VIDEOS_LIST) = list;
                    }
                    Err(e) => {
                        eprintln!("a video list that does not parse: {e} (the thread ends)");
                        return;
                    }
                }
            }
            // An empty read (the server has gone) lands here too, for ever.
            _ => println!("not a message this client knows"),
        }
    }
}

/// A decrypted chat, if it was sealed for this client. The original learns that from the
/// exception python-rsa raises on a wrong padding. The `rsa` crate never raises one: given
/// someone else's message it returns random bytes instead (implicit rejection, its defence
/// against the Marvin attack, which times exactly that exception). So a message is taken as
/// ours by its form: text, a listed user's name, then ` : `.
fn for_me(plain: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(plain).ok()?;
    let sender = text.split(" : ").next()?;
    get(&USERS).contains_key(sender).then_some(text)
}

/// The frames of a stream (client 95-124): as many as `STRM` announced, each an 8-byte
/// length read with one `recv(8)` (it may return fewer), then the JPEG. `q` in the window
/// stops reading, with the rest of the stream still coming.
fn play(conn: &mut TcpStream, header: &[u8], windowed: bool) {
    let frames = header.iter().take(4).fold(0u32, |n, &b| n << 8 | u32::from(b));
    let screen = Screen { title: format!("Streaming : {}", get(&VIDEO_TO_STREAM)), windowed };
    let mut shown = 0;
    for _ in 0..frames {
        let size = recv(conn, 8).iter().fold(0u64, |n, &b| n.wrapping_shl(8) | u64::from(b));
        let size = usize::try_from(size).unwrap_or(usize::MAX).min(64 << 20);
        let mut data = Vec::new();
        while data.len() < size {
            let chunk = recv(conn, (size - data.len()).min(8192));
            if chunk.is_empty() {
                break;
            }
            data.extend_from_slice(&chunk);
        }
        // A frame that arrived short, or does not decode, is skipped without a word.
        if data.len() != size {
            continue;
        }
        match screen.show(shown + 1, &data) {
            Ok(true) => break,
            Ok(false) => shown += 1,
            Err(_) => continue,
        }
    }
    println!("Stream ended: {shown} frames");
    screen.close();
}

/// `stream` (client 138-147): a video by its number in the last list, sent by name. A number
/// past the list (or a list not yet arrived) is Python's `IndexError`: the thread ends, with
/// `[STREAM]` sent and the server waiting for a name.
fn stream(mut conn: TcpStream) {
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
    send(&mut conn, video.as_bytes());
    println!("The frames will start in a moment.");
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let windowed = args.windowed();
    // A new 1024-bit key pair each run (client 23).
    let key = PrivateKey::new(&mut rand::rng(), 1024)?;
    let public_pem = key.to_public_key().to_pkcs1_pem(LineEnding::LF)?;
    let mut conn = TcpStream::connect(&args.server)?;
    // The server's key: read, checked to be a key, never used (client 36).
    PublicKey::from_pkcs1_pem(&String::from_utf8_lossy(&recv(&mut conn, 4096)))?;
    let Some(name) = input("Your name: ") else { return Ok(()) };
    send(&mut conn, name.as_bytes());
    // The server's "OK", not looked at (client 43).
    recv(&mut conn, 8192);
    send(&mut conn, public_pem.as_bytes());
    let first = recv(&mut conn, 16384);
    // A first list cut by its read, or glued to a broadcast, does not parse: the original
    // stops there with a traceback, as this does with an error.
    if let Some(users) = first.strip_prefix(b"URIF") {
        *get(&USERS) = serde_json::from_slice(users)?;
    }
    let reader = conn.try_clone()?;
    let receiving = thread::Builder::new()
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
        send(&mut conn, service.as_bytes());
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
            // `os._exit`: the only way out while `recv_chat` still runs.
            _ => std::process::exit(0),
        };
        let _ = worker.join();
    }
    // Python's threads are not daemons: with the main thread gone, `recv_chat` keeps the
    // process alive, for good (once the server has gone, each empty read lands in its last
    // arm and prints again).
    let _ = receiving.join();
    Ok(())
}
