//! chatroom: a terminal chat room with end-to-end encrypted direct messages and video
//! streaming over plain TCP, re-created in Rust from a Python student project.
//!
//! The design is the original's, made sound: one OS thread per client with blocking I/O, a
//! shared registry behind `Arc<Mutex<..>>`, and length-prefixed frames instead of bare strings.
//!
//! # Layout
//! Each module has one job, and imports only modules listed above it.
//! - [`wire`]: messages to bytes and back, and the encoded frame every writer sends. Pure;
//!   every length bounded before allocating.
//! - [`keys`]: RSA identities, sealed envelopes (AES-256-GCM + RSA-OAEP + RSA-PSS),
//!   fingerprints, replay detection. Bytes in, bytes out.
//! - [`report`]: an error and its causes, shown on one line.
//! - [`budget`]: token buckets and strike counts: how much one client may ask. Pure.
//! - [`video`]: the server's videos: `catalog` (the folder, the split plan), `source` (reading
//!   frames and making JPEGs with either decoder), `ffmpeg` (the default decoder: FFmpeg to
//!   YUV, libjpeg-turbo from the planes), `demo` (the demo and benchmark videos).
//! - [`store`]: what the server keeps on disk (SQLite): names bound to keys, and messages
//!   held for users who are offline.
//! - [`config`]: the server's settings and the command line's defaults.
//! - [`outbox`]: one client's two queues (chat, video) and the writer thread that drains them.
//! - [`registry`]: who is online: connections, members, joins and leaves, name rules.
//! - `cache`: the shared frame cache: each frame decoded and encoded once, for every stream.
//! - `stream`: one stream on the server, on its own thread: pacing, stop, end.
//! - `handler`: one client's session on the server: handshake, join, then one action per
//!   message.
//! - [`server`]: only the listener: accept, one thread per client, stop.
//! - [`client`]: `link` (the connection), `peers` (the directory, sealing, opening, trust),
//!   `profile` (keys and pins kept between sessions), `player` (the stream thread), `input` and
//!   `screen` (the terminal's two directions), `terminal` (the menu and the
//!   `send_chat`/`recv_chat` threads).
//! - [`bench`]: `chatroom bench chat|stream`, real clients measuring a running server.
//!
//! A chat message goes one way through them: socket → `wire` → `handler` → `registry` (who is
//! the recipient?) → `outbox` → the recipient's socket.
pub mod bench;
pub mod budget;
mod cache;
pub mod client;
pub mod config;
mod handler;
pub mod keys;
pub mod outbox;
pub mod registry;
pub mod report;
pub mod server;
pub mod store;
mod stream;
pub mod video;
pub mod wire;
