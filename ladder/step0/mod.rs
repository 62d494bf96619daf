//! Step 0: the literal port. The Python original's design and protocol in Rust, bugs and all.

pub mod client;
pub mod server;

pub const IDEA: &str = "the literal port: the original's design, protocol and bugs, in Rust";
