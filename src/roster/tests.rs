use std::sync::OnceLock;

use super::*;
use crate::wire::MAX_CHANGE;

/// Three keys, made once (RSA key generation is the slow part).
fn ids() -> &'static [Identity; 4] {
    static IDS: OnceLock<[Identity; 4]> = OnceLock::new();
    IDS.get_or_init(|| std::array::from_fn(|_| Identity::generate(1024).unwrap()))
}

fn key(i: usize) -> Hash {
    key_hash(ids()[i].public_der())
}

const NAMES: [&str; 4] = ["alice", "bob", "carol", "mallory"];

/// `by` (an index into `ids`) signs `action` about `subject` after `prev`.
fn change(by: usize, prev: Hash, action: Action, subject: usize) -> Change {
    let (by_name, subject_name) = (NAMES[by], NAMES[subject]);
    Change::signed(&ids()[by], by_name, "#study", prev, action, subject_name, key(subject)).unwrap()
}

/// alice makes #study and invites bob, who joins: the chain and the roster.
fn alice_and_bob() -> (Vec<Change>, Roster) {
    let create = change(0, GENESIS, Action::Create, 0);
    let invite = change(0, create.hash(), Action::Invite, 1);
    let join = change(1, invite.hash(), Action::Join, 1);
    let chain = vec![create, invite, join];
    let roster = Roster::fold("#study", &chain).unwrap();
    (chain, roster)
}

fn names(seats: &[Seat]) -> Vec<&str> {
    seats.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn a_room_is_made_invited_to_joined_left_and_a_member_removed_by_who_invited_them() {
    let (chain, mut roster) = alice_and_bob();
    assert_eq!(names(roster.members()), ["alice", "bob"]);
    assert_eq!(roster.member("BOB").unwrap().invited_by.as_deref(), Some("alice"));
    assert_eq!(roster.head(), chain[2].hash());
    // bob invites carol; she is a seat, not a member, until she joins.
    let invite = change(1, roster.head(), Action::Invite, 2);
    roster.apply(&invite).unwrap();
    assert_eq!(
        (names(roster.members()), names(roster.invited())),
        (vec!["alice", "bob"], vec!["carol"])
    );
    roster.apply(&change(2, roster.head(), Action::Join, 2)).unwrap();
    assert_eq!(names(roster.members()), ["alice", "bob", "carol"]);
    // alice did not invite carol, so may not remove her; bob may.
    let refused = change(0, roster.head(), Action::Remove, 2);
    assert_eq!(
        roster.apply(&refused),
        Err(RosterError::MayNotRemove { by: "alice".into(), subject: "carol".into() })
    );
    roster.apply(&change(1, roster.head(), Action::Remove, 2)).unwrap();
    assert_eq!(names(roster.members()), ["alice", "bob"]);
    assert!(roster.has_seated("carol", &key(2)), "her old messages still show");
    // Nobody removes the room's first member; she may leave.
    let refused = change(1, roster.head(), Action::Remove, 0);
    assert!(matches!(roster.apply(&refused), Err(RosterError::MayNotRemove { .. })));
    roster.apply(&change(0, roster.head(), Action::Leave, 0)).unwrap();
    assert_eq!(names(roster.members()), ["bob"]);
    assert_eq!(roster.len(), 7);
}

#[test]
fn every_lie_a_server_could_tell_about_a_room_is_refused_and_the_roster_kept() {
    let (chain, roster) = alice_and_bob();
    let head = roster.head();
    let refuse = |change: &Change, why: RosterError| {
        let mut tried = roster.clone();
        assert_eq!(tried.apply(change), Err(why), "{change:?}");
        assert_eq!(tried, roster, "a refused change leaves the roster as it was");
    };
    // mallory, not a member, invites herself; or forges alice's name with her own key.
    refuse(&change(3, head, Action::Invite, 3), RosterError::NotMember("mallory".into()));
    let mut forged = change(3, head, Action::Invite, 3);
    forged.by = "alice".into();
    forged.signature = ids()[3].sign(CONTEXT, &forged.signed_bytes()).unwrap();
    refuse(&forged, RosterError::WrongKey("alice".into()));
    // alice's real invitation of carol, altered to name mallory.
    let mut altered = change(0, head, Action::Invite, 2);
    altered.subject = "mallory".into();
    refuse(&altered, RosterError::BadSignature("alice".into()));
    // Replayed (an old change again), reordered (one from later first), or forked.
    refuse(&chain[1], RosterError::NotNext);
    let first = change(0, head, Action::Invite, 2);
    let second = change(2, first.hash(), Action::Join, 2);
    refuse(&second, RosterError::NotNext);
    // A join nobody invited, or with another key than the invitation named.
    refuse(&change(3, head, Action::Join, 3), RosterError::NotInvited("mallory".into()));
    let mut with_invite = roster.clone();
    with_invite.apply(&first).unwrap();
    let mut other_key = change(3, with_invite.head(), Action::Join, 3);
    other_key.subject = "carol".into();
    other_key.by = "carol".into();
    other_key.signature = ids()[3].sign(CONTEXT, &other_key.signed_bytes()).unwrap();
    assert_eq!(with_invite.apply(&other_key), Err(RosterError::NotInvited("carol".into())));
    // The server's unsigned change may only end a seat, not make one.
    let mut unsigned = change(0, head, Action::Invite, 3);
    (unsigned.by, unsigned.by_key, unsigned.signature) = (String::new(), Vec::new(), Vec::new());
    assert!(roster.clone().apply(&unsigned).is_err());
    let mut ended = roster.clone();
    ended.apply(&Change::expire("#study", head, roster.member("bob").unwrap())).unwrap();
    assert_eq!(names(ended.members()), ["alice"]);
    // Another room's change, and a second "first" change.
    let mut elsewhere = change(0, head, Action::Invite, 2);
    elsewhere.room = "#other".into();
    refuse(&elsewhere, RosterError::WrongRoom("#other".into()));
    refuse(&change(0, head, Action::Create, 0), RosterError::Exists);
    assert_eq!(
        Roster::new("#Study").apply(&change(0, GENESIS, Action::Invite, 1)),
        Err(RosterError::NoRoom)
    );
}

#[test]
fn a_room_holds_at_most_its_seats_and_a_change_reads_back_as_written_and_bounded() {
    let (_, mut roster) = alice_and_bob();
    // Invitations count as seats: 30 more fill the room.
    for i in 0..MAX_ROOM_MEMBERS - 2 {
        let name = format!("guest{i}");
        let invite = Change::signed(
            &ids()[0],
            "alice",
            "#study",
            roster.head(),
            Action::Invite,
            &name,
            key(2),
        )
        .unwrap();
        roster.apply(&invite).unwrap();
    }
    assert_eq!(roster.apply(&change(0, roster.head(), Action::Invite, 2)), Err(RosterError::Full));

    let invite = change(0, GENESIS, Action::Invite, 1);
    let bytes = invite.encode();
    assert!(bytes.len() <= MAX_CHANGE, "{} bytes", bytes.len());
    assert_eq!(Change::parse(&bytes).unwrap(), invite);
    for cut in [0, 1, 40, bytes.len() - 1] {
        assert!(Change::parse(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Change::parse(&longer).is_err(), "a byte too many");
    let mut bad_action = bytes;
    bad_action[1 + 1 + "#study".len() + 32] = 9;
    assert!(Change::parse(&bad_action).is_err());
}
