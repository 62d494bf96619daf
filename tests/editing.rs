//! The line editor as terminal chat users expect it (issue 34), in tmux: Tab completes a
//! command and its arguments, each prompt keeps its own history, and Ctrl-C clears a line
//! being typed, ending the client only from an empty one.

mod common;

use chatroom::config::ServerConfig;
use common::pane::alice_at_recipient_prompt;
use common::{TestClient, start_server};

const RECIPIENT: &str = "Enter recipient (QUIT to go back) : ";

#[test]
fn tab_completes_commands_and_their_arguments() {
    let server = start_server(ServerConfig::default());
    let _bob = TestClient::join(server.local_addr(), "bobby", 1);
    let pane = alice_at_recipient_prompt(&server.local_addr().to_string(), 100, 30);
    pane.keys(&["/ver", "Tab"]);
    pane.wait_for("the command completed", |l| l == format!("{RECIPIENT}/verify"));
    pane.keys(&["b", "Tab"]);
    pane.wait_for("the name completed", |l| l == format!("{RECIPIENT}/verify bobby"));
    pane.keys(&["Enter"]);
    pane.wait_for("the safety number", |l| l.starts_with("Safety number for you and bobby"));
}

#[test]
fn each_prompt_has_its_own_history_and_ctrl_c_clears_before_it_quits() {
    let server = start_server(ServerConfig::default());
    let mut bob = TestClient::join(server.local_addr(), "bob", 1);
    let pane = alice_at_recipient_prompt(&server.local_addr().to_string(), 100, 30);
    bob.wait_joined("alice");
    pane.keys(&["bob", "Enter"]);
    pane.wait_for("the message prompt", |l| l.starts_with("Enter message :"));
    pane.keys(&["first message", "Enter"]);
    assert_eq!(bob.next_chat(), ("alice".into(), Ok("first message".into())));
    // Up at the recipient prompt recalls a recipient, not the message.
    pane.wait_for("the recipient prompt", |l| l == RECIPIENT.trim_end());
    pane.keys(&["Up"]);
    pane.wait_for("bob recalled", |l| l == format!("{RECIPIENT}bob"));
    // Ctrl-C clears what is typed, and the client goes on.
    pane.keys(&["C-c"]);
    pane.wait_for("a cleared line", |l| l == RECIPIENT.trim_end());
    pane.keys(&["bob", "Enter"]);
    pane.wait_for("the message prompt", |l| l.starts_with("Enter message :"));
    pane.keys(&["Up"]);
    pane.wait_for("the message recalled", |l| l == "Enter message : first message");
    pane.keys(&["C-c"]);
    pane.wait_for("a cleared message line", |l| l == "Enter message :");
    // From an empty line, Ctrl-C ends the client, with the status of an interrupted program.
    pane.keys(&["C-c"]);
    pane.wait_for("the exit status", |l| l == "EXIT=130");
}
