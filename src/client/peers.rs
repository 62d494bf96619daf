//! The other users, as this client knows them: the directory of names and keys kept up to date
//! from the server's events, and the two ends of a direct message: a [`Sealer`] for what we
//! send and an [`Opener`] for what we receive. The crypto itself is in `keys.rs`.

use std::sync::Arc;

use crate::keys::{self, Identity, KeyError, ReplayGuard};
use crate::wire::{ClientMsg, User};

/// A user as the client knows them.
#[derive(Debug, Clone)]
pub struct Peer {
    pub name: String,
    pub key: Vec<u8>,
    pub fingerprint: String,
}

/// Everyone online, in join order, kept up to date from `URIF`, `JOND` and `LEFT`.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    peers: Vec<Peer>,
}

impl Directory {
    pub fn new(users: Vec<User>) -> Directory {
        let mut d = Directory::default();
        for user in users {
            d.add(user);
        }
        d
    }

    pub fn add(&mut self, user: User) {
        self.remove(&user.name);
        let fingerprint = keys::fingerprint(&user.key);
        self.peers.push(Peer { name: user.name, key: user.key, fingerprint });
    }

    pub fn remove(&mut self, name: &str) {
        self.peers.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    /// Names are unique ignoring case, and so is this lookup.
    pub fn get(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }
}

/// Seals outgoing messages: our identity, our name, and the sequence number that makes
/// each of our messages unique.
pub struct Sealer {
    identity: Arc<Identity>,
    me: String,
    next_seq: u64,
}

impl Sealer {
    pub fn new(identity: Arc<Identity>, me: &str) -> Sealer {
        Sealer { identity, me: me.to_owned(), next_seq: 1 }
    }

    /// The `CHAT` frame carrying `text` sealed for `to`.
    pub fn seal(&mut self, to: &Peer, text: &str) -> Result<ClientMsg, KeyError> {
        let key = keys::parse_public_key(&to.key)?;
        let envelope = self.identity.seal(&self.me, &to.name, &key, self.next_seq, text)?;
        self.next_seq += 1;
        Ok(ClientMsg::Chat { to: to.name.clone(), envelope })
    }
}

/// Why an incoming message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    /// The server stamped a name that is not in our directory.
    #[error("the sender is not in the directory")]
    UnknownSender,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Opens incoming messages: checks the sender's signature against the directory's key and
/// drops replays. Failures are only ever reported locally, never to the network, so nobody can
/// use us as an oracle for their guesses.
pub struct Opener {
    identity: Arc<Identity>,
    me: String,
    guard: ReplayGuard,
}

impl Opener {
    pub fn new(identity: Arc<Identity>, me: &str) -> Opener {
        Opener { identity, me: me.to_owned(), guard: ReplayGuard::default() }
    }

    /// The text of an envelope the server says is from `from`.
    pub fn open(
        &mut self,
        directory: &Directory,
        from: &str,
        envelope: &[u8],
    ) -> Result<String, DropReason> {
        let peer = directory.get(from).ok_or(DropReason::UnknownSender)?;
        let opened = self
            .identity
            .open(&peer.name, &peer.key, &self.me, envelope)
            .map_err(DropReason::Key)?;
        self.guard.check(&peer.name, &peer.fingerprint, opened.seq).map_err(DropReason::Key)?;
        Ok(opened.text)
    }
}
