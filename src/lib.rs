//! chatroom: a terminal chat room with end-to-end encrypted direct messages and video
//! streaming over plain TCP, re-created in Rust from a Python student project.
//!
//! The design is the original's, made sound: one OS thread per client with blocking I/O, a
//! shared registry behind `Arc<Mutex<..>>`, and length-prefixed frames instead of bare strings.
//!
//! # Layout
//! Each module has one job, and imports only modules listed above it.
//! - `sync`: a lock taken even after a thread panicked holding it (`LockAnyway`).
//! - [`names`]: the rules every user name follows, and look-alike names. Pure.
//! - [`wire`]: frames to bytes and back, the `Message` trait every kind implements, what the
//!   server sends (`ServerMsg`, one table), and the encoded frame every writer sends. Pure;
//!   every length bounded before allocating.
//! - [`keys`]: RSA identities, the keys a client may join with, sealed envelopes
//!   (AES-256-GCM + RSA-OAEP + RSA-PSS), fingerprints, replay detection. Bytes in, bytes out.
//! - [`report`]: an error and its causes, shown on one line.
//! - [`budget`]: token buckets and strike counts: how much one client may ask. Pure.
//! - [`video`]: the server's videos: `catalog` (the folder, the split plan), `source` (reading
//!   frames and making JPEGs with the engine `--decoder` chose), `ffmpeg` (the default: FFmpeg
//!   to YUV, libjpeg-turbo from the planes), `opencv` (the original's engine, which the server
//!   reaches only through a trait), `demo` (the demo and benchmark videos).
//! - [`store`]: what the server keeps on disk (SQLite): names bound to keys, and messages
//!   held for users who are offline.
//! - [`config`]: the server's settings, the command line's defaults, and the chat rate policy.
//! - [`outbox`]: one client's two queues (events, video), its mail wake-up, and the writer
//!   thread that drains them and sends its stored chat in order.
//! - [`registry`]: who is online: connections, members, joins and leaves, joins per source.
//! - `cache`: the shared frame cache: each frame decoded and encoded once, for every stream.
//! - `context`: what every session on the server shares (settings, registry, store, cache).
//! - `stream`: one stream on the server, on its own thread: pacing, stop, end.
//! - `watch`: a room's watch, on its own thread: one timeline, each frame offered to every
//!   member's video lane at once, pause, play, seek and stop from any member.
//! - `mail`: one client's chat in and out of the store: kept before `SENT`, deleted on its
//!   acknowledgement, a batch a transaction.
//! - `socket`: a client's socket on the server: its reader under a deadline, how a
//!   connection ended, the drain after a protocol error.
//! - `handler`: one joined client's state (queues, budgets, stream, the batch of mail) and the
//!   actions every request uses: answer within a budget, refuse, send.
//! - [`cmd`]: each client request in its own file: its payload both ways and what the server
//!   does with it; `cmd.rs` is the table they are gathered from (`ClientMsg`, one dispatch).
//! - `handshake`: the start of a connection: `HELO`, then `JOIN`s until one is accepted,
//!   within a deadline.
//! - `connection`: one connection from accept to close: the handshake, then one request at a
//!   time to its command, then the end.
//! - [`server`]: only the listener: accept, one thread per client, stop.
//! - [`cli`]: `chatroom server`'s flags and start, shared by `chatroom server` and
//!   `chatroom-server` (the same server without OpenCV's libraries).
//! - [`client`]: `start` (the key, the name, the threads), `session` (the `send_chat` thread
//!   that owns the client's state, and `recv_chat`), `menu` (prompts and parsing, pure),
//!   `player` (the `stream` thread), `input` and `screen` (the terminal's two directions),
//!   `peers` (the directory, sealing, opening, trust), `profile` (what is kept between
//!   sessions), `link` (the connection).
//! - [`bench`]: `chatroom bench chat|stream`, real clients measuring a running server, and
//!   `bench decode`, the machine's own limit for a stream.
//!
//! A chat message goes one way through them: socket → `wire` → `cmd` → `mail` → `store`
//! (kept) → the recipient's `outbox` (woken) → the recipient's socket; and back, as the
//! recipient's `ACKN`, to `mail` (deleted).
pub mod bench;
pub mod budget;
mod cache;
pub mod cli;
pub mod client;
pub mod cmd;
pub mod config;
mod connection;
mod context;
mod handler;
mod handshake;
pub mod keys;
mod mail;
pub mod names;
pub mod outbox;
pub mod registry;
pub mod report;
mod rooms;
pub mod roster;
pub mod server;
mod socket;
pub mod store;
mod stream;
mod sync;
pub mod video;
mod watch;
pub mod wire;
