//! The rules every user name follows, in one place: the server refuses a name that breaks
//! them at `JOIN` (`registry`), the store folds names by them, and a client checks its own
//! name before sending it and ignores such names in what a server sends. Pure: a name in, a
//! verdict out.

/// The longest name, in bytes (names are ASCII, so also in characters).
pub const MAX_LEN: usize = 32;
/// The longest room name: `#` and a name's characters.
pub const MAX_ROOM_LEN: usize = MAX_LEN + 1;

/// Why a room name breaks the rules: `#` followed by 1 to 32 characters of the name alphabet
/// (`#study`, `#year-2.b`). Rooms are one ignoring case, as names are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    #[error("a room name starts with '#'")]
    NoHash,
    #[error("{0}")]
    Name(NameError),
}

/// The rules every room name follows (see [`RoomError`]).
pub fn check_room(room: &str) -> Result<(), RoomError> {
    let name = room.strip_prefix('#').ok_or(RoomError::NoHash)?;
    if name.eq_ignore_ascii_case("QUIT") {
        // `#quit` is a fine room: only a user may not be called QUIT.
        return Ok(());
    }
    check(name).map_err(RoomError::Name)
}

/// Why a user name breaks the rules: 1 to 32 characters of `A-Z a-z 0-9 _ . -`, not starting
/// with `.` or `-`, and not `QUIT` in any case (the client uses it to leave chat).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than 32 characters")]
    TooLong,
    #[error("{0:?} is not allowed; use letters, digits, '_', '.' or '-'")]
    BadChar(char),
    #[error("the name QUIT is reserved")]
    Reserved,
    #[error("it must start with a letter, a digit or '_' (not '.' or '-')")]
    BadStart,
}

/// The rules every user name follows (see [`NameError`]).
pub fn check(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_LEN {
        return Err(NameError::TooLong);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if let Some(c) = name.chars().find(|c| !allowed(*c)) {
        return Err(NameError::BadChar(c));
    }
    // `.`, `..`, `-rf`: names that read as paths or as command-line options.
    if name.starts_with(['.', '-']) {
        return Err(NameError::BadStart);
    }
    if name.eq_ignore_ascii_case("QUIT") {
        return Err(NameError::Reserved);
    }
    Ok(())
}

/// What a name looks like: two names with the same look-alike form are told apart by few
/// eyes (`aIice`, `a1ice` and `alice`; `rnallory` and `mallory`). It folds the ASCII
/// confusables of Unicode TR39 that names can hold (`I` `1` `l`; `0` `O`; `rn` `m`; `vv` `w`;
/// `cl` `d`) and case. As names are one ignoring case, `I` is also `i`: so `i` joins `l`'s
/// class (`alice` and `allce` count as alike; a few more refusals, no look-alike let in).
/// Names are ASCII (`check`), so this is all of TR39 that applies. Punctuation counts as
/// one mark however it is spelt or repeated, and not at all at either end: `bob.`, `_bob`
/// and `bob` are alike, as are `a.b`, `a..b`, `a-b` and `a_b`.
pub fn look_alike(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match c.to_ascii_lowercase() {
            'i' | 'l' | '1' => 'l',
            '0' => 'o',
            '.' | '-' | '_' => '.',
            c => c,
        };
        if !(c == '.' && folded.ends_with('.')) {
            folded.push(c);
        }
    }
    let folded = folded.trim_matches('.');
    folded.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_names_share_a_form_and_others_do_not() {
        for (a, b) in [("alice", "aIice"), ("alice", "a1ice"), ("alice", "ALICE"), ("bob", "b0b")] {
            assert_eq!(look_alike(a), look_alike(b), "{a} {b}");
        }
        assert_eq!(look_alike("rnallory"), look_alike("mallory"));
        assert_eq!(look_alike("vvendy"), look_alike("wendy"));
        assert_eq!(look_alike("clave"), look_alike("dave"));
        for (a, b) in
            [("bob", "bob."), ("bob", "_bob_"), ("a.b", "a..b"), ("a.b", "a_b"), ("a-b", "a--b")]
        {
            assert_eq!(look_alike(a), look_alike(b), "{a} {b}");
        }
        assert_ne!(look_alike("ab"), look_alike("a.b"));
        assert_ne!(look_alike("alice"), look_alike("alicia"));
        assert_ne!(look_alike("bob"), look_alike("rob"));
    }

    #[test]
    fn names_that_read_as_paths_or_options_are_refused() {
        for bad in [".", "..", ".hidden", "-rf", "--help"] {
            assert_eq!(check(bad), Err(NameError::BadStart), "{bad}");
        }
        for good in ["a.b", "a-b", "_x", "9lives", "c.d-e_f"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn rooms_are_a_hash_and_a_name() {
        for good in ["#study", "#Year-2.b", "#quit", &format!("#{}", "r".repeat(32))] {
            assert_eq!(check_room(good), Ok(()), "{good}");
        }
        assert_eq!(check_room("study"), Err(RoomError::NoHash));
        assert_eq!(check_room("#"), Err(RoomError::Name(NameError::Empty)));
        assert_eq!(check_room("##x"), Err(RoomError::Name(NameError::BadChar('#'))));
        assert_eq!(
            check_room(&format!("#{}", "r".repeat(33))),
            Err(RoomError::Name(NameError::TooLong))
        );
    }
}
