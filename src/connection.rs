//! One connection on the server, from accept to close, on its own thread: the handshake
//! (`handshake.rs`), then a reader loop that hands each request to its command (`src/cmd/`),
//! then the end: the queue drained, the name released, one log line.
//!
//! A malformed frame ends this connection (with an error frame and a log line) and nothing
//! else; a valid but wrong request gets an error frame and the session goes on.

use log::{debug, info, warn};
use std::io::{self, BufRead, BufReader};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use crate::cmd::{self, ClientMsg};
use crate::context::Context;
use crate::handler::Handler;
use crate::handshake::{self, Joined};
use crate::registry::ConnId;
use crate::socket::{self, End, SocketReader};
use crate::wire::ReadError;

/// Runs one connection from accept to close. Called on the connection's own thread.
pub fn run(socket: Arc<TcpStream>, peer: String, id: ConnId, ctx: Arc<Context>) {
    let (end, name) = match start(&socket, &peer, id, &ctx) {
        Ok(Some((mut handler, mut reader))) => {
            let end = serve(&mut handler, &mut reader);
            handler.finish(&end);
            handler.release_throwaway();
            (end, Some(handler.name))
        }
        Ok(None) => (End::Quit, None),
        Err(end) => (end, None),
    };
    // For a connection that never joined (or failed while joining) this frees its slot;
    // for a session, `finish` has already done it and this does nothing.
    ctx.registry.close(id);
    let who = match &name {
        Some(name) => format!("{name} ({peer})"),
        None => peer,
    };
    match &end {
        End::Quit => info!("{who} left"),
        End::ServerStopping => info!("{who} disconnected: server shutting down"),
        End::Replaced => info!("{who} replaced by a newer session"),
        End::Closed if name.is_none() => debug!("{who} closed before joining (a probe?)"),
        End::Closed => info!("{who} left: connection closed"),
        End::Protocol(why) => warn!("{who} cut off: protocol error: {why}"),
        End::Failed(why) => warn!("{who} disconnected: {why}"),
    }
    if let End::Protocol(_) = end {
        socket::linger(&socket);
    }
    let _ = socket.shutdown(Shutdown::Both);
}

type Reader = BufReader<SocketReader>;

/// Handshake and join, then the session. `Ok(None)` when the client quit before joining.
fn start<'a>(
    socket: &'a Arc<TcpStream>,
    peer: &'a str,
    id: ConnId,
    ctx: &'a Context,
) -> Result<Option<(Handler<'a>, Reader)>, End> {
    socket
        .set_write_timeout(Some(ctx.config.write_timeout))
        .map_err(|e| End::Failed(e.to_string()))?;
    let _ = socket.set_nodelay(true);
    let Some(Joined { joining, reader }) = handshake::run(socket, peer, id, ctx)? else {
        return Ok(None);
    };
    let handler = Handler::new(socket, id, ctx, joining)?;
    Ok(Some((handler, reader)))
}

/// The reader loop: one message, one command, until the client quits or fails. Chat
/// messages and acknowledgements are written to the store a batch at a time: once the
/// client has nothing more in flight (all it sent is read), or a batch is full.
fn serve(handler: &mut Handler, reader: &mut Reader) -> End {
    loop {
        if reader.buffer().is_empty() || handler.mail.full() {
            handler.flush_mail();
        }
        // Messages wait for room in a mailbox: look again every `RETRY` while the client
        // sends nothing (it may be waiting for their answers).
        if handler.mail.waiting() && reader.buffer().is_empty() && !readable_within(reader) {
            continue;
        }
        let msg = match next_message(handler, reader) {
            Ok(msg) => msg,
            Err(end) => return end,
        };
        if let Some(end) = msg.apply(handler) {
            return end;
        }
    }
}

/// Whether the client sent something within `mail::RETRY` (or the socket ended: the next
/// read says how). Nothing of a frame is taken here, so a timeout loses nothing.
fn readable_within(reader: &mut Reader) -> bool {
    let socket = &reader.get_ref().stream;
    if socket.set_read_timeout(Some(crate::mail::RETRY)).is_err() {
        return true;
    }
    let ready = match reader.fill_buf() {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut),
    };
    let _ = reader.get_ref().stream.set_read_timeout(None);
    ready
}

/// The next message, or how the session ended.
fn next_message(handler: &Handler, reader: &mut Reader) -> Result<ClientMsg, End> {
    let registry = &handler.ctx.registry;
    let msg = match cmd::read_client(reader) {
        Ok(msg) => msg,
        // Shutdown, or a newer session of ours, closes our read side: let the writer
        // deliver the notice.
        Err(_) if registry.is_shutting_down() => return Err(End::ServerStopping),
        Err(_) if registry.is_replaced(handler.id) => return Err(End::Replaced),
        Err(ReadError::Closed) => return Err(End::Closed),
        Err(ReadError::Io(e)) => return Err(End::Failed(e.to_string())),
        Err(ReadError::Wire(e)) => {
            handler.send_error(e.code(), format!("protocol error: {e}"));
            return Err(End::Protocol(e.to_string()));
        }
    };
    handler.liveness.heard();
    Ok(msg)
}
