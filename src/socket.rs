//! A client's socket on the server, below everything that talks on it: reading it under a
//! deadline, the ways a connection ends, and the drain after a protocol error.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads from the socket, enforcing an overall deadline while one is set (the handshake).
/// A per-read timeout alone would let a client trickle one byte every few seconds forever.
pub struct SocketReader {
    pub stream: Arc<TcpStream>,
    pub deadline: Option<Instant>,
}

impl Read for SocketReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        (&*self.stream).read(buf)
    }
}

impl SocketReader {
    pub fn clear_deadline(&mut self) -> io::Result<()> {
        self.deadline = None;
        self.stream.set_read_timeout(None)
    }
}

/// How a connection ended, for the log line and for how to close.
pub enum End {
    /// The client sent `QUIT`.
    Quit,
    /// The client closed the connection.
    Closed,
    /// The client broke the protocol; it has been sent an error frame.
    Protocol(String),
    /// The connection failed (reset, timed out...).
    Failed(String),
    /// The server is shutting down; the client is being told.
    ServerStopping,
    /// The user joined again from another connection; this one is being told.
    Replaced,
}

/// After a protocol error, whose error frame is sent: half-closes, then reads and discards
/// what the client still sends, for at most `LINGER`. Closing a socket with unread data makes
/// the kernel reset the connection, and a reset can destroy what the client has not read yet:
/// the very frame that says why it is cut off. The offender pays: its own connection's thread
/// waits, nobody else's.
pub fn linger(socket: &Arc<TcpStream>) {
    let _ = socket.shutdown(Shutdown::Write);
    let mut reader =
        SocketReader { stream: socket.clone(), deadline: Some(Instant::now() + LINGER) };
    let mut sink = [0u8; 8192];
    while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
}

/// How long a connection cut for a protocol error is drained before it is closed.
const LINGER: Duration = Duration::from_secs(2);
