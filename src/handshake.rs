//! The start of every connection on the server: the `HELO` exchange and the `JOIN`s until
//! one is accepted, within a deadline, on the connection's own thread. A name and key are
//! accepted when the key is usable (`keys`), the name follows the rules (`names`), the client
//! proves it holds the key, and the name is free or bound to that key (`store`).

use log::info;
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cmd::{self, ClientMsg};
use crate::context::Context;
use crate::handler::Joining;
use crate::keys;
use crate::names::NameError;
use crate::outbox::{Lanes, Outbox};
use crate::registry::{self, ConnId, Refusal};
use crate::socket::{End, SocketReader};
use crate::store::Claim;
use crate::wire::{self, ErrorCode, JoinField, ReadError, ServerMsg};

/// A client that joined: who it is and its queues (what its session starts from), and the
/// reader of its connection (with no deadline any more).
pub struct Joined {
    pub joining: Joining,
    pub reader: BufReader<SocketReader>,
}

/// Greets the client and takes `JOIN`s until one is accepted, all within the server's
/// handshake deadline (and a person's time to type each new name). `Ok(None)` when the
/// client quits first.
pub fn run(
    socket: &Arc<TcpStream>,
    peer: &str,
    id: ConnId,
    ctx: &Context,
) -> Result<Option<Joined>, End> {
    let config = &ctx.config;
    let deadline = Some(Instant::now() + config.handshake_timeout);
    let mut handshake = Handshake {
        socket,
        peer,
        reader: BufReader::new(SocketReader { stream: socket.clone(), deadline }),
        timeout_secs: config.handshake_timeout.as_secs(),
        retry: config.join_retry_timeout,
        refusals: 0,
        challenge: rand::random(),
    };
    handshake.greet()?;
    let Some((name, throwaway, outbox, lanes)) = handshake.join(id, ctx)? else {
        return Ok(None);
    };
    let mut reader = handshake.reader;
    reader.get_mut().clear_deadline().map_err(|e| End::Failed(e.to_string()))?;
    Ok(Some(Joined { joining: Joining { name, throwaway, outbox, lanes }, reader }))
}

/// The connection before its writer thread exists: this thread is its only writer, so it
/// replies directly. Every read counts against the handshake deadline.
struct Handshake<'a> {
    socket: &'a TcpStream,
    peer: &'a str,
    reader: BufReader<SocketReader>,
    timeout_secs: u64,
    /// After a refused `JOIN`, the time the client has to send another (a person is typing).
    retry: Duration,
    refusals: u32,
    /// Fresh random bytes the client signs to prove it holds the key it joins with.
    challenge: [u8; wire::CHALLENGE_LEN],
}

/// Refused joins one connection may have before it is closed: enough for a person, few enough
/// that refusals cannot hold a connection open for long.
const MAX_REFUSALS: u32 = 16;

impl Handshake<'_> {
    fn reply(&self, msg: ServerMsg) -> Result<(), End> {
        let mut socket = self.socket;
        socket.write_all(&msg.encode()).map_err(|e| End::Failed(e.to_string()))
    }

    /// Reads one message, answering a timeout or a malformed frame with an error frame before
    /// giving up on the connection. A `JOIN` whose name or key is too long is a refusal the
    /// client may retry, as for any other bad name or key: the whole frame was read, so the
    /// connection is still in step.
    fn read(&mut self) -> Result<ClientMsg, End> {
        loop {
            let refusal = match cmd::read_client(&mut self.reader) {
                Err(ReadError::Wire(e)) => match e.join_field_too_long() {
                    Some((JoinField::Name, ..)) => registry::refusal(NameError::TooLong),
                    Some((JoinField::Key, len, max)) => {
                        let text = format!("invalid public key: {len} bytes, over {max}");
                        Refusal { code: ErrorCode::BadKey, text }
                    }
                    None => return self.read_result(Err(ReadError::Wire(e))),
                },
                other => return self.read_result(other),
            };
            self.refuse(refusal.code, refusal.text)?;
        }
    }

    /// Tells the client why its `JOIN` was refused, and gives it `retry` to send another (the
    /// handshake deadline counted the time to connect, not a person typing a new name).
    fn refuse(&mut self, code: ErrorCode, text: String) -> Result<(), End> {
        self.reply(ServerMsg::Error { code, text })?;
        self.refusals += 1;
        if self.refusals >= MAX_REFUSALS {
            let text = format!("{MAX_REFUSALS} refused joins; connect again to retry");
            self.reply(ServerMsg::Error { code: ErrorCode::Unexpected, text: text.clone() })?;
            return Err(End::Protocol(text));
        }
        self.reader.get_mut().deadline = Some(Instant::now() + self.retry);
        Ok(())
    }

    fn read_result(&self, read: Result<ClientMsg, ReadError>) -> Result<ClientMsg, End> {
        match read {
            Ok(msg) => Ok(msg),
            Err(ReadError::Closed) => Err(End::Closed),
            Err(ReadError::Io(e))
                if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) =>
            {
                let text = format!("no handshake within {} s", self.timeout_secs);
                let _ =
                    self.reply(ServerMsg::Error { code: ErrorCode::Timeout, text: text.clone() });
                Err(End::Failed(text))
            }
            // A reset before joining is a close (a port scanner's probe), not a failure.
            Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => Err(End::Closed),
            Err(ReadError::Io(e)) => Err(End::Failed(e.to_string())),
            Err(ReadError::Wire(e)) => {
                let text = format!("protocol error: {e}");
                let _ = self.reply(ServerMsg::Error { code: e.code(), text });
                Err(End::Protocol(e.to_string()))
            }
        }
    }

    /// The `HELO` exchange: the right magic and version, or a clear error and the end.
    fn greet(&mut self) -> Result<(), End> {
        let text = match self.read()? {
            ClientMsg::Hello(cmd::Hello { magic, version })
                if magic == wire::MAGIC && version == wire::VERSION =>
            {
                let (magic, version, challenge) = (wire::MAGIC, wire::VERSION, self.challenge);
                return self.reply(ServerMsg::Hello { magic, version, challenge });
            }
            ClientMsg::Hello(cmd::Hello { magic, .. }) if magic != wire::MAGIC => format!(
                "this is a chatroom server; bad magic {:?}",
                String::from_utf8_lossy(&magic)
            ),
            ClientMsg::Hello(cmd::Hello { version, .. }) => format!(
                "protocol version mismatch: server speaks {}, client {version}",
                wire::VERSION
            ),
            other => format!("expected HELO first, got {}", other.tag()),
        };
        self.reply(ServerMsg::Error { code: ErrorCode::BadHandshake, text: text.clone() })?;
        Err(End::Failed(text))
    }

    /// `JOIN` until a name and key are accepted (a refusal may be retried on the same
    /// connection). `Ok(None)` when the client quits first.
    #[allow(clippy::type_complexity)]
    fn join(
        &mut self,
        id: ConnId,
        ctx: &Context,
    ) -> Result<Option<(String, Option<Vec<u8>>, Outbox, Lanes)>, End> {
        let peer = self.peer;
        loop {
            let (name, key, proof, throwaway) = match self.read()? {
                ClientMsg::Join(cmd::Join { name, key, proof, throwaway }) => {
                    (name, key, proof, throwaway)
                }
                ClientMsg::Quit(_) => return Ok(None),
                other => {
                    let text = format!("join first (got {})", other.tag());
                    self.refuse(ErrorCode::Unexpected, text)?;
                    continue;
                }
            };
            // Before any work: a source that joins too often is told when to come back.
            if let Err(refusal) = ctx.registry.take_join(id) {
                info!("{peer} refused: {}", refusal.text);
                self.reply(ServerMsg::Error { code: refusal.code, text: refusal.text.clone() })?;
                return Err(End::Failed(refusal.text));
            }
            let claim = match self.check_join(&name, &key, &proof, throwaway.then_some(id), ctx) {
                Ok(claim) => claim,
                Err(refusal) => {
                    info!("{peer} refused as {name:?}: {}", refusal.text);
                    self.refuse(refusal.code, refusal.text)?;
                    continue;
                }
            };
            let config = &ctx.config;
            let (outbox, lanes) = Outbox::new(config.outbox_frames, config.inbound_rate);
            let kept = throwaway.then(|| key.clone());
            let last_seq = ctx.store.last_seq(&name).unwrap_or(0);
            match ctx.registry.join(id, &name, key, &outbox, last_seq) {
                Ok(()) => {
                    info!(
                        "{peer} joined as {name}{}",
                        if throwaway { " (throwaway key)" } else { "" }
                    );
                    return Ok(Some((name, kept, outbox, lanes)));
                }
                Err(refusal) => {
                    info!("{peer} refused the name {name:?}: {}", refusal.text);
                    // A throwaway binding made for this join goes with it.
                    if let (Claim::New, Some(key)) = (claim, &kept) {
                        let _ = ctx.store.release_throwaway(&name, key, id);
                    }
                    self.refuse(refusal.code, refusal.text)?;
                }
            }
        }
    }
}

impl Handshake<'_> {
    /// Whether `key` may join as `name`: a key of an accepted size, a valid name, a proof
    /// that the client holds the key (its signature of our challenge), and, if the name is
    /// registered, the key it was registered with. A free name is bound to the key here (a
    /// throwaway key's binding lasts its session only: `throwaway` is this connection's id,
    /// which holds it).
    fn check_join(
        &self,
        name: &str,
        key: &[u8],
        proof: &[u8],
        throwaway: Option<ConnId>,
        ctx: &Context,
    ) -> Result<Claim, Refusal> {
        let bad_key = |text: String| Refusal { code: ErrorCode::BadKey, text };
        keys::check_join_key(key, ctx.config.min_key_bits).map_err(|e| bad_key(e.to_string()))?;
        registry::validate_name(name)?;
        keys::verify_join(key, &self.challenge, name, proof)
            .map_err(|_| bad_key("the join proof does not match the key".into()))?;
        let registered = |name: &str| Refusal {
            code: ErrorCode::NameRegistered,
            text: format!("the name {name} is registered to another key"),
        };
        let claim = ctx.store.claim(name, key, throwaway).map_err(|e| {
            log::error!("cannot check the name {name}: {}", crate::report::Chain(&e));
            let text = "the server cannot check names now; try again later".into();
            Refusal { code: ErrorCode::Unexpected, text }
        })?;
        match &claim {
            Claim::New if throwaway.is_none() => info!("{} registered the name {name}", self.peer),
            Claim::New | Claim::Same => {}
            Claim::Other => return Err(registered(name)),
            Claim::InUse => {
                let text = format!("the name {name} is taken");
                return Err(Refusal { code: ErrorCode::NameTaken, text });
            }
            Claim::LooksLike(other) => {
                let text =
                    format!("the name {name} looks too much like {other}, who is registered");
                return Err(Refusal { code: ErrorCode::NameTaken, text });
            }
        }
        Ok(claim)
    }
}
