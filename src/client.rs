//! The client, in parts that import only downwards:
//!
//! - [`start`]: settings, the key, the name, joining; then the session's threads.
//! - [`session`]: the `send_chat` thread, which waits for every line typed, every server
//!   message and every stream event in one loop, hands each to the core and carries out what
//!   it returns; and the `recv_chat` thread, which only reads the server and forwards.
//! - [`core`]: everything the client knows and decides, as a state machine with no thread,
//!   socket or terminal inside: events in, effects out, in order.
//! - [`menu`]: the menus and prompts as text, and each typed line parsed. Pure.
//! - [`player`]: the `stream` thread: shows the frames of a stream in a window, in the
//!   terminal or headless. It uses `link` (to send `STOP`), never `session`.
//! - [`blocks`]: video as coloured half blocks in a plain terminal; pure (pixels in, escape
//!   sequences out).
//! - [`input`]: the keyboard, on the `input` thread: plain lines from a pipe, or a line editor
//!   on a terminal whose prompt incoming lines never break.
//! - [`screen`]: every line the terminal client prints, made harmless (network text cannot
//!   act on the terminal) and quiet on a closed stdout.
//! - [`peers`]: the other users: the directory of names and keys, trust on first use, sealing
//!   messages for them and opening theirs.
//! - [`profile`]: keys, pins and sequence numbers kept between sessions in the config folder.
//! - [`link`]: the connection to the server: connect and handshake, join, and the reader and
//!   writer halves (with `--trace`). Programs and tests drive a server through it.
//!
//! Their one error type, [`ClientError`], is here.

pub mod blocks;
pub mod core;
pub mod input;
pub mod link;
pub mod menu;
pub mod notices;
pub mod peers;
pub mod player;
pub mod profile;
pub mod rooms;
pub mod rosters;
pub mod screen;
pub mod seen;
pub mod session;
pub mod start;

use std::io;

use crate::keys::KeyError;
use crate::wire::{ErrorCode, ReadError};

/// What can stop the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: io::Error,
    },
    /// The server refused the handshake or answered something unexpected.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// The server refused a request (a name, most often).
    #[error("refused: {text}")]
    Refused { code: ErrorCode, text: String },
    /// A name refused, by the rules or by the server, where there is nobody to ask for
    /// another (input is piped): the client ends with exit status 2.
    #[error("the name {name:?} was refused: {reason}")]
    NameRefused { name: String, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Profile(#[from] profile::ProfileError),
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The connection closed, cleanly, between two frames.
    #[error("the server closed the connection")]
    Closed,
    /// The connection failed, or a frame from the server was malformed.
    #[error("bad reply from the server")]
    Protocol(#[source] ReadError),
}

impl From<ReadError> for ClientError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Closed => ClientError::Closed,
            e => ClientError::Protocol(e),
        }
    }
}
