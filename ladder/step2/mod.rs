//! Step 2: routing. A chat goes to its recipient only, stamped with its sender by the server;
//! the directory is a message of its own, for members only.

pub mod client;
pub mod server;
pub mod wire;

pub const IDEA: &str =
    "routing: a chat goes to its recipient only, stamped with its sender by the server";
