//! Step 1: framing. The original's design kept, but every message is a tagged,
//! length-prefixed frame, read whole (`wire.rs`).

pub mod client;
pub mod server;
pub mod wire;

pub const IDEA: &str = "framing: every message a tagged, length-prefixed frame, read whole";
