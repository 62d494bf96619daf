//! Sealing done right, as in step 4 (whose tests cover this same code): a hybrid envelope,
//! AES-256-GCM with its key wrapped by RSA-OAEP, signed by the sender with RSA-PSS over both
//! names and a sequence number, and a replay guard. Bytes in, bytes out.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use byteorder::{BigEndian, ReadBytesExt, WriteBytesExt};
use rsa::{PrivateKey, PublicKey};
use sha2::Sha256;

/// The longest text, in bytes of UTF-8.
pub const MAX_TEXT: usize = 4096;

/// What the signature covers: a context, both names, the sequence number, and the envelope.
fn signed(sender: &str, recipient: &str, seq: u64, sealed: &[u8]) -> Vec<u8> {
    let names = format!("chatroom ladder step 4\n{sender}\n{recipient}\n");
    [names.as_bytes(), &seq.to_be_bytes(), sealed].concat()
}

/// `text` from `sender` (whose key is `me`) to `recipient` (`their_key`), numbered `seq`.
pub fn seal(
    me: &PrivateKey,
    sender: &str,
    recipient: &str,
    their_key: &PublicKey,
    seq: u64,
    text: &str,
) -> Result<Vec<u8>, String> {
    if text.len() > MAX_TEXT {
        return Err(format!("{} bytes: at most {MAX_TEXT}", text.len()));
    }
    let (key, nonce) = (Key::<Aes256Gcm>::generate(), Nonce::generate());
    let ciphertext = Aes256Gcm::new(&key)
        .encrypt(&nonce, Payload { msg: text.as_bytes(), aad: recipient.as_bytes() })
        .map_err(|e| e.to_string())?;
    let wrapped = their_key.oaep_encrypt::<Sha256>(key.as_slice()).map_err(|e| e.to_string())?;
    // The sealed part: the wrapped key, the nonce, the ciphertext, each with its length.
    let mut sealed = Vec::new();
    for part in [wrapped.as_slice(), nonce.as_slice(), &ciphertext] {
        sealed.write_u32::<BigEndian>(part.len() as u32).map_err(|e| e.to_string())?;
        sealed.extend_from_slice(part);
    }
    let signature = me
        .pss_sign::<Sha256>(&signed(sender, recipient, seq, &sealed))
        .map_err(|e| e.to_string())?;
    let mut envelope = seq.to_be_bytes().to_vec();
    envelope.write_u32::<BigEndian>(signature.len() as u32).map_err(|e| e.to_string())?;
    envelope.extend_from_slice(&signature);
    envelope.extend_from_slice(&sealed);
    Ok(envelope)
}

/// Opens an envelope the server says `sender` (whose directory key is `their_key`) sent to
/// `recipient` (us, `me`): its sequence number and text, or why it was refused.
pub fn open(
    me: &PrivateKey,
    recipient: &str,
    sender: &str,
    their_key: &PublicKey,
    envelope: &[u8],
) -> Result<(u64, String), String> {
    let mut r = envelope;
    let seq = r.read_u64::<BigEndian>().map_err(|_| "too short")?;
    let signature = part(&mut r)?;
    let sealed = r;
    their_key
        .pss_verify::<Sha256>(&signed(sender, recipient, seq, sealed), signature)
        .map_err(|_| format!("not signed by {sender}'s key"))?;
    let (wrapped, nonce, ciphertext) = (part(&mut r)?, part(&mut r)?, part(&mut r)?);
    let key = me.oaep_decrypt::<Sha256>(wrapped).map_err(|_| "not sealed for this key")?;
    let key = Key::<Aes256Gcm>::try_from(key.as_slice()).map_err(|_| "a bad key")?;
    let nonce = Nonce::try_from(nonce).map_err(|_| "a bad nonce")?;
    let text = Aes256Gcm::new(&key)
        .decrypt(&nonce, Payload { msg: ciphertext, aad: recipient.as_bytes() })
        .map_err(|_| "does not decrypt")?;
    Ok((seq, String::from_utf8(text).map_err(|_| "not UTF-8")?))
}

/// A `u32` length, then that many bytes, bounded by what is left.
fn part<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let len = r.read_u32::<BigEndian>().map_err(|_| "too short")? as usize;
    let (part, rest) = r.split_at_checked(len).ok_or("a length past the end")?;
    *r = rest;
    Ok(part)
}

/// The highest sequence number seen from each sender: a message must be newer. A server
/// relays in order, so an older or equal number is a replay.
#[derive(Default)]
pub struct ReplayGuard {
    last: HashMap<String, u64>,
}

impl ReplayGuard {
    /// Whether `seq` from `sender` is new; if so, it is remembered.
    pub fn fresh(&mut self, sender: &str, seq: u64) -> bool {
        let last = self.last.entry(sender.to_owned()).or_insert(0);
        let fresh = seq > *last;
        *last = (*last).max(seq);
        fresh
    }
}
