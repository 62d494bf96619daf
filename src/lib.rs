//! chatroom: a terminal chat room with end-to-end encrypted direct messages and video
//! streaming over plain TCP, re-created in Rust from a Python student project.
//!
//! The design is the original's, made sound: one OS thread per client with blocking I/O, a
//! shared registry behind `Arc<Mutex<..>>`, and length-prefixed frames instead of bare strings.
//!
//! # Layout
//! - [`wire`]: messages to bytes and back. Pure; every length bounded before allocating.
//! - [`keys`]: RSA identities, sealed envelopes (AES-256-GCM + RSA-OAEP + RSA-PSS),
//!   fingerprints, replay detection. Bytes in, bytes out.
//! - [`server`]: the listener (accept loop, one thread per client) and the shared registry.
//! - `handler`: one client's session on the server and its writer thread.
//! - [`client`]: connect/join/seal/open for programs and tests, and the terminal client.
//! - [`video`]: the server's OpenCV: catalog, split plan, file reader, JPEG, demo videos.
//! - [`cache`]: the shared frame cache: each frame decoded and encoded once, for every stream.
//! - `stream`: one stream on the server, on its own thread.
//! - [`player`]: the client's stream thread: window or headless, saved frames, summary.
//! - [`bench`]: `chatroom bench chat|stream`, real clients measuring a running server.
pub mod bench;
pub mod cache;
pub mod client;
mod handler;
pub mod keys;
pub mod player;
pub mod server;
mod stream;
pub mod video;
pub mod wire;
