//! Load: 500 clients joined at once, each sending messages to random others; every message
//! must arrive exactly once, at its recipient, intact.

mod common;

use common::*;
use rand::RngExt;
use std::collections::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;

use chatroom::wire::ServerMsg;

const CLIENTS: usize = 500;
const MESSAGES_EACH: usize = 4;

#[test]
fn five_hundred_clients_each_message_arrives_exactly_once() {
    let server = default_server();
    let addr = server.local_addr();
    // Who sends what to whom, fixed before anyone starts, so each recipient knows what to expect.
    let mut rng = rand::rng();
    let plan: Vec<Vec<usize>> = (0..CLIENTS)
        .map(|i| {
            (0..MESSAGES_EACH)
                .map(|_| {
                    loop {
                        let to = rng.random_range(0..CLIENTS);
                        if to != i {
                            break to;
                        }
                    }
                })
                .collect()
        })
        .collect();
    let mut expected: Vec<HashMap<String, usize>> = vec![HashMap::new(); CLIENTS];
    for (from, targets) in plan.iter().enumerate() {
        for (k, to) in targets.iter().enumerate() {
            expected[*to].insert(format!("from user{from:03} #{k}"), 0);
        }
    }
    let plan = Arc::new(plan);
    let joined = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = expected
        .into_iter()
        .enumerate()
        .map(|(i, mut inbox)| {
            let (plan, joined) = (plan.clone(), joined.clone());
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut me = TestClient::join(addr, &format!("user{i:03}"), i);
                    joined.wait();
                    for (k, to) in plan[i].iter().enumerate() {
                        let to = format!("user{to:03}");
                        me.wait_joined(&to);
                        me.send_text(&to, &format!("from user{i:03} #{k}"));
                    }
                    let mut left = inbox.len();
                    while left > 0 {
                        match me.recv() {
                            ServerMsg::Chat { from, envelope, .. } => {
                                let text =
                                    me.opener.open(&me.directory, "", &from, &envelope).unwrap();
                                assert!(
                                    text.starts_with(&format!("from {from} #")),
                                    "{text} came from {from}"
                                );
                                let seen = inbox
                                    .get_mut(&text)
                                    .unwrap_or_else(|| panic!("unexpected {text:?}"));
                                *seen += 1;
                                assert_eq!(*seen, 1, "{text:?} arrived twice");
                                left -= 1;
                            }
                            ServerMsg::Joined(_) | ServerMsg::Left { .. } => {}
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    me
                })
                .unwrap()
        })
        .collect();
    // Keep every client connected until all have their messages (a leaving client's LEFT is fine,
    // but a recipient must still be there when its message is sent).
    let clients: Vec<TestClient> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(server.registry().member_count(), CLIENTS);
    drop(clients);
    server.shutdown();
}
