//! What the client keeps between sessions, in the user's config folder
//! (`~/.config/chatroom` on Linux, from the `directories` crate):
//!
//! - `identities/NAME.pem`: one key pair per user name, made the first time that name is used,
//!   written once the server has accepted the name, and read back after, file mode 0600. A file that is not a key, or that others can read,
//!   is an error naming the file; it is never overwritten.
//! - `known_users`: trust on first use. The full fingerprint of each user's key the first time
//!   this machine saw it, and whether a message went either way (`name fingerprint talked`
//!   or `... seen`, one a line).
//! - `seen/NAME`: for user NAME on this machine, the sequence numbers shown from each sender's
//!   key, so a message sent again in a later session is not shown twice (`seen.rs`).
//!
//! With `--ephemeral` none of it is read or written: a throwaway key, pins kept in memory.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::keys::{Identity, KeyError};

/// Why a stored file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot find the user's config folder (is HOME set?)")]
    NoConfigDir,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is readable by other users (mode {mode:03o}); run: chmod 600 {path}")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{path} is not a key this client can use")]
    NotAKey {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("cannot make a key for {path}")]
    Generate {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ProfileError + '_ {
    move |source| ProfileError::Io { path: path.to_owned(), source }
}

/// The config folder and the files in it.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

impl Profile {
    /// The user's config folder for chatroom (created when first written to).
    pub fn open() -> Result<Profile, ProfileError> {
        let dirs =
            directories::ProjectDirs::from("", "", "chatroom").ok_or(ProfileError::NoConfigDir)?;
        Ok(Profile { dir: dirs.config_dir().to_owned() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the key of user `name` is kept (names are one ignoring case, and so are files).
    /// Only a name that follows the rules becomes a path: `../x` or `-x` never does.
    pub fn identity_path(&self, name: &str) -> Result<PathBuf, crate::names::NameError> {
        crate::names::check(name)?;
        Ok(self.dir.join("identities").join(format!("{}.pem", name.to_ascii_lowercase())))
    }

    pub fn known_users_path(&self) -> PathBuf {
        self.dir.join("known_users")
    }

    pub fn seen_path(&self, me: &str) -> PathBuf {
        self.dir.join("seen").join(me.to_ascii_lowercase())
    }

    /// Where the rooms `me` is in keep the chains of changes `me` checked (`client::rosters`).
    pub fn rooms_dir(&self, me: &str) -> PathBuf {
        self.dir.join("rooms").join(me.to_ascii_lowercase())
    }

    /// Where the sequence counter of `me`'s messages is kept.
    pub fn counter_path(&self, me: &str) -> PathBuf {
        self.dir.join("counters").join(me.to_ascii_lowercase())
    }
}

/// The key pair kept in `path`, or `None` if there is no file yet. A file that is there is
/// only ever read: not a key, or readable by others, is an error naming it.
pub fn load(path: &Path) -> Result<Option<Identity>, ProfileError> {
    match read_identity(path) {
        Err(ProfileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// Keeps a new key pair in `path`, readable by its owner only. Called once the server has
/// accepted the name (`start.rs`): a refused name leaves no file. If another client made the
/// file meanwhile, theirs stands and is not overwritten: an error says so.
pub fn save_new(path: &Path, identity: &Identity) -> Result<(), ProfileError> {
    let pem = identity
        .to_pem()
        .map_err(|source| ProfileError::Generate { path: path.to_owned(), source })?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
        let _ = fs::set_permissions(parent, fs::Permissions::from_mode(0o700));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()).map_err(io_error(path))
}

fn read_identity(path: &Path) -> Result<Identity, ProfileError> {
    let meta = fs::metadata(path).map_err(io_error(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ProfileError::Exposed { path: path.to_owned(), mode });
    }
    let text = fs::read_to_string(path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => ProfileError::NotAKey {
            path: path.to_owned(),
            source: KeyError::BadPrivateKey("not text".into()),
        },
        _ => io_error(path)(e),
    })?;
    Identity::from_pem(&text)
        .map_err(|source| ProfileError::NotAKey { path: path.to_owned(), source })
}

/// `name value` lines, as `known_users` and `seen/NAME` keep them; of two lines with one name,
/// the later wins (`seen` is appended to). Lines that do not parse are skipped: a damaged file
/// loses an entry, never the session.
pub fn read_pairs(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = fs::read_to_string(path) else { return BTreeMap::new() };
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Writes `pairs` to `path` whole (`write_whole`).
pub fn write_pairs(path: &Path, pairs: &BTreeMap<String, String>) -> Result<(), ProfileError> {
    let text: String = pairs.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    write_whole(path, text.as_bytes())
}

/// `path` opened for appending (the file and its folder made if missing).
pub fn open_append(path: &Path) -> Result<File, ProfileError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    OpenOptions::new().create(true).append(true).open(path).map_err(io_error(path))
}

/// Appends `line` to `path` in one write, through `file` (opened with [`open_append`] if it
/// is not yet, then kept open).
pub fn append_line(path: &Path, file: &mut Option<File>, line: &str) -> Result<(), ProfileError> {
    let open = match file {
        Some(open) => open,
        None => file.insert(open_append(path)?),
    };
    open.write_all(line.as_bytes()).map_err(io_error(path))
}

/// Writes `bytes` to `path` through a temporary file renamed over it, so a crash never leaves
/// half a file.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), ProfileError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path)).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chatroom-profile-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_key_is_kept_private_read_back_and_never_overwritten() {
        let dir = temp("keys");
        let path = dir.join("identities").join("alice.pem");
        assert!(load(&path).unwrap().is_none());
        assert!(!dir.exists(), "looking for a key wrote nothing");
        let made = Identity::generate(crate::keys::MIN_KEY_BITS).unwrap();
        save_new(&path, &made).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let read = load(&path).unwrap().unwrap();
        assert_eq!(read.public_der(), made.public_der());
        // A second key for the same file is refused, and the first stays.
        let other = Identity::generate(crate::keys::MIN_KEY_BITS).unwrap();
        let err = save_new(&path, &other).unwrap_err();
        assert!(err.to_string().contains("alice.pem"), "{err}");
        assert_eq!(load(&path).unwrap().unwrap().public_der(), made.public_der());

        // Readable by others: refused, and left as it is.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("alice.pem is readable by other users"), "{err}");
        // Not a key: refused by name.
        fs::write(&path, "hello").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("alice.pem is not a key"), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "hello");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn pairs_round_trip_and_bad_lines_are_skipped() {
        let dir = temp("pairs");
        let path = dir.join("known_users");
        assert!(read_pairs(&path).is_empty());
        let pairs = BTreeMap::from([("alice".to_string(), "ab12".to_string())]);
        write_pairs(&path, &pairs).unwrap();
        fs::write(&path, format!("{}garbage\n", fs::read_to_string(&path).unwrap())).unwrap();
        assert_eq!(read_pairs(&path), pairs);
        let _ = fs::remove_dir_all(dir);
    }
}
