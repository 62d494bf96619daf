//! Keys and sealed messages: RSA identities, the hybrid envelope that carries one direct message,
//! fingerprints, and replay detection. Bytes in, bytes out: no sockets, no files, no printing.
//!
//! A direct message is sealed on the sender's machine for one recipient:
//!
//! 1. a fresh AES-256-GCM key encrypts the text (RSA alone cannot encrypt more than a few
//!    hundred bytes, and the original's RSA-1024 on raw text broke on long messages);
//! 2. RSA-OAEP with SHA-256 wraps that key with the recipient's public key;
//! 3. RSA-PSS with SHA-256, by the sender's private key, signs everything: the protocol version,
//!    the sender and recipient names, a per-sender sequence number, and the ciphertext.
//!
//! The server relays the envelope as opaque bytes and stamps the sender's registered name. The
//! recipient checks the signature against that name's key from the directory, so neither the
//! server nor another user can forge a sender, and checks the sequence number, so nobody can
//! replay an old message. PKCS#1 v1.5 is not used anywhere in the product (Bleichenbacher and
//! Marvin attacks); only the port of the original's client speaks it (docs/SECURITY.md).
//!
//! A room message is the same envelope, sealed once for each member, with the room's name in
//! the signed body (empty for a direct message): it cannot be passed off as a direct message,
//! nor as one to another room.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

use crate::wire::{FrameWriter, Reader, WireError};

/// The longest direct message, in bytes of UTF-8 (docs/PROTOCOL.md, "The sealed envelope").
pub const MAX_TEXT: usize = 4096;
/// Default RSA key size.
pub const DEFAULT_KEY_BITS: usize = 2048;
/// Accepted RSA key sizes: `rsa` refuses to make keys under 1024 bits, and keys over 4096 bits
/// would make every envelope large and slow for little gain.
pub const MIN_KEY_BITS: usize = 1024;
pub const MAX_KEY_BITS: usize = 4096;
/// Fingerprints are the first 8 bytes of SHA-256 of the DER public key, shown beside each
/// name in the user list so two users can compare them.
pub const FINGERPRINT_LEN: usize = 8;

/// Layout version of the envelope itself, signed with everything else (2 added the room).
const ENVELOPE_VERSION: u8 = 2;
/// Separates our signatures from any other use of the same key.
const SIGNING_CONTEXT: &[u8] = b"chatroom direct message\0";
/// The join proof's context: a signed challenge can never pass for a message, or the reverse.
const JOIN_CONTEXT: &[u8] = b"chatroom join\0";
/// The length of the server's join challenge.
pub const CHALLENGE_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// RSA-4096 ciphertexts and signatures are 512 bytes.
const MAX_RSA_BLOB: usize = MAX_KEY_BITS / 8;
const MAX_CIPHERTEXT: usize = MAX_TEXT + 16;

/// Why a key could not be made or read, or a message could not be sealed or opened.
/// Each way a message can be bad has its own variant, so the client can say what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Key generation failed, or the size is outside `MIN_KEY_BITS..=MAX_KEY_BITS`.
    #[error("cannot generate an RSA key: {0}")]
    Generate(String),
    /// A public key that does not parse or whose size is outside the accepted range.
    #[error("invalid public key: {0}")]
    BadPublicKey(String),
    /// A stored key pair that does not parse.
    #[error("not a usable private key: {0}")]
    BadPrivateKey(String),
    /// The text is longer than `MAX_TEXT` bytes.
    #[error("message is {len} bytes long; the limit is {MAX_TEXT} bytes")]
    TextTooLong { len: usize },
    /// The envelope bytes do not parse.
    #[error("malformed envelope")]
    Malformed(#[from] WireError),
    /// The envelope is addressed to someone else.
    #[error("message is addressed to {addressed_to:?}, not to us")]
    WrongRecipient { addressed_to: String },
    /// The envelope was written to another room (or none) than the one it came through.
    #[error("message was written to {written:?}, not {came:?}")]
    WrongRoom { written: String, came: String },
    /// The envelope was signed by a key other than the claimed sender's.
    #[error("message claims to be from {claimed} but was signed by key {signer}")]
    ForgedSender { claimed: String, signer: String },
    /// The signature does not match the content: the envelope was altered in transit.
    #[error("signature does not match: message altered in transit")]
    Tampered,
    /// The wrapped key or the ciphertext could not be decrypted with our key.
    #[error("message cannot be decrypted with our key")]
    Decrypt,
    /// The plaintext is not UTF-8.
    #[error("message text is not valid UTF-8")]
    BadUtf8,
    /// A sequence number already seen (or older) from this sender and key.
    #[error("replayed message (sequence {seq}, already saw up to {last})")]
    Replay { seq: u64, last: u64 },
    /// A usable key, but smaller than this server accepts.
    #[error("{bits}-bit key; this server wants at least {min} bits")]
    TooSmall { bits: usize, min: usize },
    /// Encrypting or signing failed (should not happen with valid keys).
    #[error("crypto failure: {0}")]
    Crypto(String),
}

/// The first 8 bytes of SHA-256 of a DER public key, as 16 hex digits.
pub fn fingerprint(public_der: &[u8]) -> String {
    hex(&fingerprint_bytes(public_der))
}

/// All 32 bytes of SHA-256 of a DER public key, as 64 hex digits: what a client pins.
pub fn full_fingerprint(public_der: &[u8]) -> String {
    hex(&Sha256::digest(public_der))
}

/// A number two users compare in person to be sure each has the other's real key: 60 digits
/// in 12 groups, made from both public keys in a fixed order, so both screens show the same
/// whoever asks.
pub fn safety_number(a_der: &[u8], b_der: &[u8]) -> String {
    let (first, second) = if a_der <= b_der { (a_der, b_der) } else { (b_der, a_der) };
    let mut hash = Sha256::new();
    hash.update(b"chatroom safety number\0");
    for key in [first, second] {
        hash.update((key.len() as u32).to_be_bytes());
        hash.update(key);
    }
    // Two more rounds give 12 groups of 5 bytes, each shown as 5 digits.
    let mut bytes = hash.finalize().to_vec();
    bytes.extend_from_slice(&Sha256::digest(&bytes));
    let groups: Vec<String> = bytes
        .chunks_exact(5)
        .take(12)
        .map(|c| {
            let n = c.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
            format!("{:05}", n % 100_000)
        })
        .collect();
    groups.join(" ")
}

/// What a joining client signs: the context, the server's challenge, the name and the key.
fn join_bytes(challenge: &[u8], name: &str, public_der: &[u8]) -> Vec<u8> {
    let mut bytes = JOIN_CONTEXT.to_vec();
    bytes.extend_from_slice(challenge);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name.as_bytes());
    bytes.extend_from_slice(public_der);
    bytes
}

/// Checks a join proof: `signature` is `public_der`'s signature of this challenge and name.
pub fn verify_join(
    public_der: &[u8],
    challenge: &[u8],
    name: &str,
    signature: &[u8],
) -> Result<(), KeyError> {
    parse_public_key(public_der)?
        .pss_verify::<Sha256>(&join_bytes(challenge, name, public_der), signature)
        .map_err(|_| KeyError::Tampered)
}

/// Checks `signature` is `public_der`'s signature of `bytes` after `context` ([`Identity::sign`]).
pub fn verify(
    public_der: &[u8],
    context: &[u8],
    bytes: &[u8],
    signature: &[u8],
) -> Result<(), KeyError> {
    parse_public_key(public_der)?
        .pss_verify::<Sha256>(&[context, bytes].concat(), signature)
        .map_err(|_| KeyError::Tampered)
}

fn fingerprint_bytes(public_der: &[u8]) -> [u8; FINGERPRINT_LEN] {
    let digest = Sha256::digest(public_der);
    digest[..FINGERPRINT_LEN].try_into().expect("SHA-256 is 32 bytes")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a DER (SubjectPublicKeyInfo) public key and checks its size is accepted.
pub fn parse_public_key(der: &[u8]) -> Result<PublicKey, KeyError> {
    let key =
        PublicKey::from_public_key_der(der).map_err(|e| KeyError::BadPublicKey(e.to_string()))?;
    let bits = modulus_bits(&key);
    if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
        return Err(KeyError::BadPublicKey(format!(
            "{bits}-bit key; accepted sizes are {MIN_KEY_BITS} to {MAX_KEY_BITS} bits"
        )));
    }
    // The exponent every RSA library makes keys with. Another (up to 2^33 - 1 passes the
    // crate's own checks) only makes each signature check cost a recipient more.
    if trimmed(&key.e().to_be_bytes()) != [1, 0, 1] {
        return Err(KeyError::BadPublicKey("the public exponent must be 65537".into()));
    }
    // An RSA modulus is odd (a product of two odd primes).
    if trimmed(&key.n().to_be_bytes()).last().is_none_or(|b| b % 2 == 0) {
        return Err(KeyError::BadPublicKey("not an RSA modulus".into()));
    }
    Ok(key)
}

/// The modulus's length in bits, counted from its highest set bit: a 2047-bit modulus takes
/// 256 bytes, as a 2048-bit one does, and is not one.
fn modulus_bits(key: &PublicKey) -> usize {
    let n = key.n().to_be_bytes();
    let n = trimmed(&n);
    n.first().map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize)
}

/// Checks the key a client joins with: a usable RSA key (`parse_public_key`) of at least
/// `min_bits` bits.
pub fn check_join_key(der: &[u8], min_bits: usize) -> Result<(), KeyError> {
    let bits = modulus_bits(&parse_public_key(der)?);
    if bits < min_bits {
        return Err(KeyError::TooSmall { bits, min: min_bits });
    }
    Ok(())
}

/// A big-endian number without its leading zero bytes.
fn trimmed(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[zeros..]
}

/// A user's key pair, with the public half pre-encoded for the directory.
pub struct Identity {
    private: PrivateKey,
    public_der: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print private key material.
        write!(f, "Identity({})", self.fingerprint())
    }
}

/// What a recipient learns from a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub seq: u64,
    pub text: String,
}

impl Identity {
    /// Makes a fresh key pair of `bits` bits (the original made RSA-1024 keys at every start).
    pub fn generate(bits: usize) -> Result<Identity, KeyError> {
        if !(MIN_KEY_BITS..=MAX_KEY_BITS).contains(&bits) {
            return Err(KeyError::Generate(format!(
                "{bits} bits; choose {MIN_KEY_BITS} to {MAX_KEY_BITS}"
            )));
        }
        let private = PrivateKey::new(&mut rand::rng(), bits)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let public_der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?
            .into_vec();
        Ok(Identity { private, public_der })
    }

    /// The key pair from a PKCS#8 PEM file's text (as [`Identity::to_pem`] writes it).
    pub fn from_pem(pem: &str) -> Result<Identity, KeyError> {
        let private =
            PrivateKey::from_pkcs8_pem(pem).map_err(|e| KeyError::BadPrivateKey(e.to_string()))?;
        let public_der = private
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| KeyError::BadPrivateKey(e.to_string()))?
            .into_vec();
        parse_public_key(&public_der).map_err(|e| KeyError::BadPrivateKey(e.to_string()))?;
        Ok(Identity { private, public_der })
    }

    /// The private key as PKCS#8 PEM, to keep in a file only its owner can read.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let pem = self
            .private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::BadPrivateKey(e.to_string()))?;
        Ok(pem.as_str().to_owned())
    }

    /// Proves to the server that we hold this key: signs its challenge with our name.
    pub fn sign_join(&self, challenge: &[u8], name: &str) -> Result<Vec<u8>, KeyError> {
        self.private
            .pss_sign::<Sha256>(&join_bytes(challenge, name, &self.public_der))
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// Signs `bytes` after `context` (RSA-PSS, SHA-256): what a room change carries.
    pub fn sign(&self, context: &[u8], bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.private
            .pss_sign::<Sha256>(&[context, bytes].concat())
            .map_err(|e| KeyError::Crypto(e.to_string()))
    }

    /// The public key as DER, as registered with the server.
    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_der)
    }

    /// Seals `text` from `sender` to `recipient`, whose public key is `recipient_key`.
    /// `seq` must grow with every message this identity sends.
    pub fn seal(
        &self,
        sender: &str,
        recipient: &str,
        recipient_key: &PublicKey,
        seq: u64,
        text: &str,
    ) -> Result<Vec<u8>, KeyError> {
        self.seal_in("", sender, recipient, recipient_key, seq, text)
    }

    /// Seals `text` as [`Identity::seal`] does, written to `room` (`""`: a direct message).
    pub fn seal_in(
        &self,
        room: &str,
        sender: &str,
        recipient: &str,
        recipient_key: &PublicKey,
        seq: u64,
        text: &str,
    ) -> Result<Vec<u8>, KeyError> {
        if text.len() > MAX_TEXT {
            return Err(KeyError::TextTooLong { len: text.len() });
        }
        let aes_key = Key::<Aes256Gcm>::generate();
        let nonce = Nonce::generate();
        let ciphertext = Aes256Gcm::new(&aes_key)
            .encrypt(&nonce, Payload { msg: text.as_bytes(), aad: recipient.as_bytes() })
            .map_err(|e| KeyError::Crypto(e.to_string()))?;
        let wrapped_key = recipient_key
            .oaep_encrypt::<Sha256>(aes_key.as_slice())
            .map_err(|e| KeyError::Crypto(e.to_string()))?;

        let body = EnvelopeBody {
            room: room.to_owned(),
            recipient: recipient.to_owned(),
            seq,
            signer: fingerprint_bytes(&self.public_der),
            wrapped_key,
            nonce: nonce.into(),
            ciphertext,
        };
        let signature = self
            .private
            .pss_sign::<Sha256>(&body.signed_bytes(sender))
            .map_err(|e| KeyError::Crypto(e.to_string()))?;

        let mut w = FrameWriter::bare();
        body.write(&mut w);
        w.blob16(&signature);
        Ok(w.finish())
    }

    /// Opens an envelope that the server says came from `sender` (whose directory key is
    /// `sender_der`) and that should be for `me`. Checks, in order: the layout, the recipient,
    /// the signer's key, the signature, then decrypts. Replays are checked by [`ReplayGuard`].
    pub fn open(
        &self,
        sender: &str,
        sender_der: &[u8],
        me: &str,
        envelope: &[u8],
    ) -> Result<Opened, KeyError> {
        self.open_in("", sender, sender_der, me, envelope)
    }

    /// Opens an envelope as [`Identity::open`] does, that came through `room` (`""`: as a
    /// direct message): it must have been written to that room.
    pub fn open_in(
        &self,
        room: &str,
        sender: &str,
        sender_der: &[u8],
        me: &str,
        envelope: &[u8],
    ) -> Result<Opened, KeyError> {
        let (body, signature) = EnvelopeBody::parse(envelope)?;
        if !body.recipient.eq_ignore_ascii_case(me) {
            return Err(KeyError::WrongRecipient { addressed_to: body.recipient });
        }
        if !body.room.eq_ignore_ascii_case(room) {
            return Err(KeyError::WrongRoom { written: body.room, came: room.to_owned() });
        }
        if body.signer != fingerprint_bytes(sender_der) {
            return Err(KeyError::ForgedSender {
                claimed: sender.to_owned(),
                signer: hex(&body.signer),
            });
        }
        let sender_key = parse_public_key(sender_der)?;
        sender_key
            .pss_verify::<Sha256>(&body.signed_bytes(sender), &signature)
            .map_err(|_| KeyError::Tampered)?;

        let aes_key = self
            .private
            .oaep_decrypt::<Sha256>(&body.wrapped_key)
            .map_err(|_| KeyError::Decrypt)?;
        let aes_key =
            Key::<Aes256Gcm>::try_from(aes_key.as_slice()).map_err(|_| KeyError::Decrypt)?;
        let plaintext = Aes256Gcm::new(&aes_key)
            .decrypt(
                &Nonce::from(body.nonce),
                Payload { msg: &body.ciphertext, aad: body.recipient.as_bytes() },
            )
            .map_err(|_| KeyError::Decrypt)?;
        if plaintext.len() > MAX_TEXT {
            return Err(KeyError::TextTooLong { len: plaintext.len() });
        }
        let text = String::from_utf8(plaintext).map_err(|_| KeyError::BadUtf8)?;
        Ok(Opened { seq: body.seq, text })
    }
}

/// The signed part of an envelope.
struct EnvelopeBody {
    /// The room it was written to; empty for a direct message.
    room: String,
    recipient: String,
    seq: u64,
    /// Fingerprint of the key that signed: lets the recipient tell a forged sender (another
    /// key) from a tampered message (the right key, altered bytes).
    signer: [u8; FINGERPRINT_LEN],
    wrapped_key: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl EnvelopeBody {
    fn write(&self, w: &mut FrameWriter) {
        w.u8(ENVELOPE_VERSION);
        w.str8(&self.room);
        w.str8(&self.recipient);
        w.u64(self.seq);
        w.raw(&self.signer);
        w.blob16(&self.wrapped_key);
        w.raw(&self.nonce);
        w.blob16(&self.ciphertext);
    }

    /// What the signature covers: a context string, the sender (stamped by the server, so it
    /// must match who signed), and the whole body.
    fn signed_bytes(&self, sender: &str) -> Vec<u8> {
        let mut w = FrameWriter::bare();
        w.raw(SIGNING_CONTEXT);
        w.u16(crate::wire::VERSION);
        w.str8(&sender.to_ascii_lowercase());
        self.write(&mut w);
        w.finish()
    }

    fn parse(bytes: &[u8]) -> Result<(EnvelopeBody, Vec<u8>), WireError> {
        let mut r = Reader::new(bytes);
        if r.u8("envelope version")? != ENVELOPE_VERSION {
            return Err(WireError::BadValue { what: "envelope version" });
        }
        let body = EnvelopeBody {
            room: r.str8("room", crate::wire::MAX_ROOM)?,
            recipient: r.str8("recipient", crate::wire::MAX_NAME)?,
            seq: r.u64("sequence number")?,
            signer: r.array("signer fingerprint")?,
            wrapped_key: r.blob16("wrapped key", MAX_RSA_BLOB)?,
            nonce: r.array("nonce")?,
            ciphertext: r.blob16("ciphertext", MAX_CIPHERTEXT)?,
        };
        let signature = r.blob16("signature", MAX_RSA_BLOB)?;
        r.finish(crate::wire::Tag::CHAT)?;
        Ok((body, signature))
    }
}

/// Remembers which sequence numbers each (sender, key) has had accepted, so a message the
/// server delivers again, or that anyone replays, is shown once. Sequence numbers may come out
/// of order (a message held while another went through): each sender has a window of the
/// last [`REPLAY_WINDOW`] numbers below its highest, and a number in it is new if it was never
/// seen; one below the window counts as seen. Bounded: one window a sender's key.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    windows: HashMap<(String, String), Window>,
}

/// How far below a sender's highest sequence number a message may still come.
pub const REPLAY_WINDOW: u64 = 256;

/// One sender's highest sequence number, and which of the `REPLAY_WINDOW` below it were seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub top: u64,
    /// Bit `i` of word `i / 64`: `top - 1 - i` was seen.
    pub below: [u64; 4],
}

impl Window {
    /// Whether `seq` counts as seen: recorded, or below the window.
    pub fn holds(&self, seq: u64) -> bool {
        if seq == 0 || seq >= self.top {
            return seq == 0 || seq == self.top;
        }
        let back = self.top - 1 - seq;
        back >= REPLAY_WINDOW || self.below[(back / 64) as usize] & (1 << (back % 64)) != 0
    }

    fn record(&mut self, seq: u64) {
        if seq < self.top {
            return self.set(self.top - 1 - seq);
        }
        let (shift, old_top) = (seq - self.top, self.top);
        let old = std::mem::take(&mut self.below);
        self.top = seq;
        // The old top and what was below it move down by `shift`, unless past the window.
        if shift <= REPLAY_WINDOW {
            if old_top > 0 {
                self.set(shift - 1);
            }
            for back in 0..REPLAY_WINDOW - shift {
                if old[(back / 64) as usize] & (1 << (back % 64)) != 0 {
                    self.set(back + shift);
                }
            }
        }
    }

    fn set(&mut self, back: u64) {
        if back < REPLAY_WINDOW {
            self.below[(back / 64) as usize] |= 1 << (back % 64);
        }
    }
}

/// The sequence number an envelope claims, read without any cryptography: enough to drop a
/// replay before spending milliseconds of RSA on it (the claim is checked again once the
/// signature is).
pub fn envelope_seq(envelope: &[u8]) -> Result<u64, KeyError> {
    Ok(EnvelopeBody::parse(envelope)?.0.seq)
}

impl ReplayGuard {
    fn key(sender: &str, fp: &str) -> (String, String) {
        (sender.to_ascii_lowercase(), fp.to_owned())
    }

    /// Would `seq` from `sender` (with the key fingerprint `fp`) be new? Records nothing.
    pub fn is_new(&self, sender: &str, fp: &str, seq: u64) -> Result<(), KeyError> {
        match self.windows.get(&Self::key(sender, fp)) {
            Some(w) if w.holds(seq) => Err(KeyError::Replay { seq, last: w.top }),
            _ => Ok(()),
        }
    }

    /// Every (sender, key fingerprint, window) recorded.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, Window)> {
        self.windows.iter().map(|((s, fp), w)| (s.as_str(), fp.as_str(), *w))
    }

    /// The window of `sender` with the key fingerprint `fp`, if any number was accepted.
    pub fn window(&self, sender: &str, fp: &str) -> Option<Window> {
        self.windows.get(&Self::key(sender, fp)).copied()
    }

    /// Puts back a window kept from an earlier session.
    pub fn restore(&mut self, sender: &str, fp: &str, window: Window) {
        self.windows.insert(Self::key(sender, fp), window);
    }

    /// Accepts `seq` from `sender` (with the key fingerprint `fp`) if it is new, and records it.
    pub fn check(&mut self, sender: &str, fp: &str, seq: u64) -> Result<(), KeyError> {
        let window = self.windows.entry(Self::key(sender, fp)).or_default();
        if seq == 0 || window.holds(seq) {
            return Err(KeyError::Replay { seq, last: window.top });
        }
        window.record(seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// Key generation is the slow part: make three identities once for all tests.
    fn ids() -> &'static [Identity; 3] {
        static IDS: OnceLock<[Identity; 3]> = OnceLock::new();
        IDS.get_or_init(|| [0, 1, 2].map(|_| Identity::generate(MIN_KEY_BITS).unwrap()))
    }

    fn key(id: &Identity) -> PublicKey {
        parse_public_key(id.public_der()).unwrap()
    }

    #[test]
    fn only_keys_of_the_usual_shape_are_accepted() {
        // Exponent 3 (or any but 65537): refused, though the `rsa` crate takes it.
        let odd = PrivateKey::new_with_exp(&mut rand::rng(), 1024, rsa::BoxedUint::from(3u32))
            .unwrap()
            .to_public_key()
            .to_public_key_der()
            .unwrap();
        let err = parse_public_key(odd.as_bytes()).unwrap_err();
        assert_eq!(err, KeyError::BadPublicKey("the public exponent must be 65537".into()));
        let [alice, ..] = ids();
        assert!(parse_public_key(alice.public_der()).is_ok());
    }

    #[test]
    fn a_key_is_as_long_as_its_modulus_not_its_bytes() {
        // 2047 bits fill 256 bytes, as 2048 do: counted by bytes, it passed a 2048 minimum.
        let short = PrivateKey::new(&mut rand::rng(), 2047).unwrap().to_public_key();
        let der = short.to_public_key_der().unwrap();
        assert_eq!(short.size(), 256);
        let err = check_join_key(der.as_bytes(), 2048).unwrap_err();
        assert_eq!(err, KeyError::TooSmall { bits: 2047, min: 2048 });
        assert_eq!(check_join_key(der.as_bytes(), 2047), Ok(()));
    }

    #[test]
    fn a_key_pair_survives_pem_and_proves_itself() {
        let [alice, bob, _] = ids();
        let again = Identity::from_pem(&alice.to_pem().unwrap()).unwrap();
        assert_eq!(again.public_der(), alice.public_der());
        assert!(matches!(Identity::from_pem("not a key"), Err(KeyError::BadPrivateKey(_))));
        let challenge = [7u8; CHALLENGE_LEN];
        let proof = again.sign_join(&challenge, "alice").unwrap();
        verify_join(alice.public_der(), &challenge, "alice", &proof).unwrap();
        // Another challenge, another name or another key: refused.
        assert!(verify_join(alice.public_der(), &[8u8; CHALLENGE_LEN], "alice", &proof).is_err());
        assert!(verify_join(alice.public_der(), &challenge, "alicf", &proof).is_err());
        assert!(verify_join(bob.public_der(), &challenge, "alice", &proof).is_err());
    }

    #[test]
    fn both_sides_compute_the_same_safety_number() {
        let [alice, bob, carol] = ids();
        let n = safety_number(alice.public_der(), bob.public_der());
        assert_eq!(n, safety_number(bob.public_der(), alice.public_der()));
        assert_eq!(n.len(), 12 * 5 + 11);
        assert!(n.split(' ').all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
        assert_ne!(n, safety_number(alice.public_der(), carol.public_der()));
        assert_eq!(full_fingerprint(alice.public_der()).len(), 64);
    }

    #[test]
    fn a_sealed_message_opens_for_its_recipient() {
        let [alice, bob, _] = ids();
        let env = alice.seal("alice", "bob", &key(bob), 1, "hello bob").unwrap();
        let opened = bob.open("alice", alice.public_der(), "bob", &env).unwrap();
        assert_eq!(opened, Opened { seq: 1, text: "hello bob".into() });
        // The plaintext is nowhere in the envelope.
        assert!(!env.windows(9).any(|w| w == b"hello bob"));
    }

    #[test]
    fn tampered_ciphertext_is_rejected() {
        let [alice, bob, _] = ids();
        let mut env = alice.seal("alice", "bob", &key(bob), 1, "pay 10").unwrap();
        // The envelope ends with the ciphertext, then the signature and its u16 length:
        // flip one bit of the ciphertext's last byte.
        let signature_len = key(alice).size();
        let last_ciphertext_byte = env.len() - signature_len - 2 - 1;
        env[last_ciphertext_byte] ^= 1;
        assert_eq!(bob.open("alice", alice.public_der(), "bob", &env), Err(KeyError::Tampered));
    }

    #[test]
    fn a_room_message_opens_in_its_room_only() {
        let [alice, bob, _] = ids();
        let env = alice.seal_in("#study", "alice", "bob", &key(bob), 7, "to the room").unwrap();
        let opened = bob.open_in("#Study", "alice", alice.public_der(), "bob", &env).unwrap();
        assert_eq!((opened.seq, opened.text.as_str()), (7, "to the room"));
        // Passed off as a direct message, or as one to another room: refused, before any
        // RSA work on the key.
        let written = "#study".to_owned();
        assert_eq!(
            bob.open("alice", alice.public_der(), "bob", &env),
            Err(KeyError::WrongRoom { written: written.clone(), came: String::new() })
        );
        assert_eq!(
            bob.open_in("#other", "alice", alice.public_der(), "bob", &env),
            Err(KeyError::WrongRoom { written, came: "#other".into() })
        );
        // And a direct message cannot be passed off as a room's.
        let direct = alice.seal("alice", "bob", &key(bob), 8, "just you").unwrap();
        assert!(matches!(
            bob.open_in("#study", "alice", alice.public_der(), "bob", &direct),
            Err(KeyError::WrongRoom { .. })
        ));
    }

    #[test]
    fn a_message_for_someone_else_is_rejected() {
        let [alice, bob, carol] = ids();
        let env = alice.seal("alice", "carol", &key(carol), 1, "for carol").unwrap();
        assert_eq!(
            bob.open("alice", alice.public_der(), "bob", &env),
            Err(KeyError::WrongRecipient { addressed_to: "carol".into() })
        );
    }

    #[test]
    fn a_forged_sender_is_rejected() {
        let [alice, bob, mallory] = ids();
        // Mallory signs with her own key; the server (or a proxy) stamps "alice" on it.
        let env = mallory.seal("alice", "bob", &key(bob), 1, "it's alice, really").unwrap();
        let err = bob.open("alice", alice.public_der(), "bob", &env).unwrap_err();
        assert_eq!(
            err,
            KeyError::ForgedSender { claimed: "alice".into(), signer: mallory.fingerprint() }
        );
        // Alice's genuine message, re-stamped as from mallory, fails as well.
        let env = alice.seal("alice", "bob", &key(bob), 1, "hi").unwrap();
        assert!(matches!(
            bob.open("mallory", mallory.public_der(), "bob", &env),
            Err(KeyError::ForgedSender { .. })
        ));
    }

    #[test]
    fn a_restamped_sender_name_breaks_the_signature() {
        let [alice, bob, _] = ids();
        // Same key, but the server claims another name for it: the signature covers the name.
        let env = alice.seal("alice", "bob", &key(bob), 1, "hi").unwrap();
        assert_eq!(bob.open("alicia", alice.public_der(), "bob", &env), Err(KeyError::Tampered));
    }

    #[test]
    fn a_key_wrapped_for_another_key_cannot_be_decrypted() {
        let [alice, bob, carol] = ids();
        // Alice was given a substituted key for bob (carol's): bob cannot unwrap it.
        let env = alice.seal("alice", "bob", &key(carol), 1, "secret").unwrap();
        assert_eq!(bob.open("alice", alice.public_der(), "bob", &env), Err(KeyError::Decrypt));
    }

    #[test]
    fn replayed_sequence_numbers_are_rejected() {
        let mut guard = ReplayGuard::default();
        assert_eq!(guard.check("alice", "fp1", 1), Ok(()));
        assert_eq!(guard.check("alice", "fp1", 2), Ok(()));
        assert_eq!(guard.check("alice", "fp1", 2), Err(KeyError::Replay { seq: 2, last: 2 }));
        assert_eq!(guard.check("ALICE", "fp1", 1), Err(KeyError::Replay { seq: 1, last: 2 }));
        // Out of order: 5 before 4 and 3; each once.
        assert_eq!(guard.check("alice", "fp1", 5), Ok(()));
        assert_eq!(guard.check("alice", "fp1", 3), Ok(()));
        assert_eq!(guard.check("alice", "fp1", 4), Ok(()));
        for seq in 1..=5 {
            assert_eq!(guard.check("alice", "fp1", seq), Err(KeyError::Replay { seq, last: 5 }));
        }
        // A jump past the window: what fell below it counts as seen.
        assert_eq!(guard.check("alice", "fp1", 5 + REPLAY_WINDOW + 10), Ok(()));
        assert!(guard.check("alice", "fp1", 6).is_err());
        assert_eq!(guard.check("alice", "fp1", 5 + REPLAY_WINDOW + 9), Ok(()));
        // Kept and put back, a window says the same.
        let kept: Vec<_> =
            guard.entries().map(|(s, f, w)| (s.to_owned(), f.to_owned(), w)).collect();
        let mut again = ReplayGuard::default();
        for (s, f, w) in &kept {
            again.restore(s, f, *w);
        }
        assert!(again.check("alice", "fp1", 5 + REPLAY_WINDOW + 9).is_err());
        assert_eq!(again.check("alice", "fp1", 5 + REPLAY_WINDOW + 8), Ok(()));
        // A new key under the same name (a new session) starts afresh; so does another sender.
        assert_eq!(guard.check("alice", "fp2", 1), Ok(()));
        assert_eq!(guard.check("bob", "fp1", 1), Ok(()));
    }

    #[test]
    fn oversize_text_is_rejected_before_encrypting() {
        let [alice, bob, _] = ids();
        let text = "é".repeat(MAX_TEXT / 2 + 1);
        assert_eq!(
            alice.seal("alice", "bob", &key(bob), 1, &text),
            Err(KeyError::TextTooLong { len: MAX_TEXT + 2 })
        );
        let text = "x".repeat(MAX_TEXT);
        let env = alice.seal("alice", "bob", &key(bob), 1, &text).unwrap();
        assert_eq!(bob.open("alice", alice.public_der(), "bob", &env).unwrap().text, text);
    }

    #[test]
    fn garbage_envelopes_are_malformed_not_panics() {
        let [alice, bob, _] = ids();
        let env = alice.seal("alice", "bob", &key(bob), 1, "hello").unwrap();
        for cut in 0..env.len() {
            let err = bob.open("alice", alice.public_der(), "bob", &env[..cut]).unwrap_err();
            assert!(matches!(err, KeyError::Malformed(_)), "cut {cut}: {err:?}");
        }
    }

    #[test]
    fn public_keys_are_checked() {
        assert!(matches!(parse_public_key(b"not a key"), Err(KeyError::BadPublicKey(_))));
        let der = ids()[0].public_der();
        assert!(parse_public_key(&der[..der.len() - 1]).is_err());
        assert!(matches!(Identity::generate(512), Err(KeyError::Generate(_))));
    }

    #[test]
    fn fingerprints_are_16_hex_digits_of_sha256() {
        // SHA-256("abc") = ba7816bf 8f01cfea ...
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea");
        assert_ne!(ids()[0].fingerprint(), ids()[1].fingerprint());
    }
}
