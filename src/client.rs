//! The client, in four parts that import only downwards:
//!
//! - [`link`]: the connection to the server: connect and handshake, join, and the reader and
//!   writer halves (with `--trace`). Programs and tests drive a server through it.
//! - [`peers`]: the other users: the directory of names and keys, sealing messages for them and
//!   opening theirs.
//! - [`blocks`]: video as coloured half blocks in a plain terminal; pure (pixels in, escape
//!   sequences out).
//! - [`player`]: the `stream` thread: shows the frames of a stream in a window, in the
//!   terminal or headless. It uses `link` (to send `STOP`), never `terminal`.
//! - [`screen`]: every line the terminal client prints, made harmless (network text cannot
//!   act on the terminal) and quiet on a closed stdout.
//! - [`input`]: the keyboard: plain lines from a pipe, or a line editor on a terminal whose
//!   prompt incoming lines never break.
//! - [`terminal`]: the terminal program: the menu flow and the `send_chat` and `recv_chat`
//!   threads, on top of the others.
//!
//! Their one error type, [`ClientError`], is here.

pub mod blocks;
pub mod input;
pub mod link;
pub mod peers;
pub mod player;
pub mod profile;
pub mod screen;
pub mod terminal;

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
