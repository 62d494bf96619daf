//! The rooms as this client checked them itself: for each room it is in or invited to, the
//! chain of signed changes it verified (`roster::Roster`), kept in the profile
//! (`rooms/ME/ROOM.chain`), so that a server cannot later tell it an older story (a replayed
//! roster), another one (a fork), or leave a change out. A room message is sealed for these
//! members only; what the server says about a room is compared with them, never taken.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::client::profile::{self, ProfileError};
use crate::roster::{Change, GENESIS, Hash, Roster, RosterError};

/// One room: its roster and the chain that made it, as stored.
struct Held {
    roster: Roster,
    chain: Vec<Vec<u8>>,
}

/// A change applied, with the roster just before it (to say who invited whom).
pub struct Applied {
    pub change: Change,
    pub before: Roster,
}

/// Every room this client holds a chain for, by lower-cased name.
pub struct Rosters {
    dir: Option<PathBuf>,
    rooms: BTreeMap<String, Held>,
    /// What loading found damaged, said once at the start.
    warnings: Vec<String>,
}

impl Rosters {
    /// The chains kept in `dir` (none without one: `--ephemeral`). A file that does not
    /// parse or check keeps what it held up to there, and is said ([`Rosters::take_warnings`]).
    pub fn load(dir: Option<PathBuf>) -> Rosters {
        let mut rosters = Rosters { dir, rooms: BTreeMap::new(), warnings: Vec::new() };
        let mut warnings = Vec::new();
        let files = rosters.dir.as_deref().and_then(|d| std::fs::read_dir(d).ok());
        for entry in files.into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "chain") {
                continue;
            }
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            let room = format!("#{stem}");
            let bytes = std::fs::read(&path).unwrap_or_default();
            let mut held = Held { roster: Roster::new(&room), chain: Vec::new() };
            if let Err(e) = restore(&mut held, &bytes) {
                warnings.push(format!(
                    "Warning: {} is damaged after {} changes: {e}",
                    path.display(),
                    held.chain.len()
                ));
            }
            if !held.chain.is_empty() {
                rosters.rooms.insert(room.to_ascii_lowercase(), held);
            }
        }
        rosters.warnings = warnings;
        rosters
    }

    /// What loading found damaged (once).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    pub fn get(&self, room: &str) -> Option<&Roster> {
        self.rooms.get(&room.to_ascii_lowercase()).map(|h| &h.roster)
    }

    /// Every room held, by name.
    pub fn all(&self) -> impl Iterator<Item = &Roster> {
        self.rooms.values().map(|h| &h.roster)
    }

    /// Whether the change of hash `hash` is already in our chain of `room` (sent again: a
    /// replay).
    pub fn knows(&self, room: &str, hash: &Hash) -> bool {
        let held = self.rooms.get(&room.to_ascii_lowercase());
        held.is_some_and(|h| h.chain.iter().any(|c| crate::roster::hash_of(c) == *hash))
    }

    /// The hash of the last change held for `room` ([`GENESIS`] for none).
    pub fn head(&self, room: &str) -> Hash {
        self.get(room).map_or(GENESIS, Roster::head)
    }

    /// Applies `changes` to `room` in order, stopping at the first that does not hold; keeps
    /// what applied. Returns those, and why the rest did not apply.
    pub fn apply(
        &mut self,
        room: &str,
        changes: &[Vec<u8>],
    ) -> (Vec<Applied>, Option<RosterError>, Option<ProfileError>) {
        let key = room.to_ascii_lowercase();
        let held = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| Held { roster: Roster::new(room), chain: Vec::new() });
        let mut applied = Vec::new();
        let mut failed = None;
        for bytes in changes {
            let change = match Change::parse(bytes) {
                Ok(change) => change,
                Err(e) => {
                    failed = Some(RosterError::from(e));
                    break;
                }
            };
            let before = held.roster.clone();
            if let Err(e) = held.roster.apply(&change) {
                failed = Some(e);
                break;
            }
            held.chain.push(bytes.clone());
            applied.push(Applied { change, before });
        }
        if held.chain.is_empty() {
            self.rooms.remove(&key);
        }
        let saved = if applied.is_empty() { Ok(()) } else { self.save(&key) };
        (applied, failed, saved.err())
    }

    /// Forgets `room`: we left it, or were taken out.
    pub fn forget(&mut self, room: &str) {
        let key = room.to_ascii_lowercase();
        self.rooms.remove(&key);
        if let Some(path) = self.path(&key) {
            let _ = std::fs::remove_file(path);
        }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        let file = format!("{}.chain", key.trim_start_matches('#'));
        self.dir.as_deref().map(|d| Path::join(d, file))
    }

    fn save(&self, key: &str) -> Result<(), ProfileError> {
        let (Some(path), Some(held)) = (self.path(key), self.rooms.get(key)) else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        for change in &held.chain {
            bytes.extend_from_slice(&(change.len() as u16).to_be_bytes());
            bytes.extend_from_slice(change);
        }
        profile::write_whole(&path, &bytes)
    }
}

/// Refolds a chain file: each change (a `u16` length, then its bytes) was checked before it
/// was written, so only its place in the chain is checked again ([`Roster::restore`]).
fn restore(held: &mut Held, mut bytes: &[u8]) -> Result<(), RosterError> {
    while bytes.len() >= 2 {
        let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        let Some(change) = bytes.get(2..2 + len) else { break };
        held.roster.restore(&Change::parse(change)?)?;
        held.chain.push(change.to_vec());
        bytes = &bytes[2 + len..];
    }
    Ok(())
}
