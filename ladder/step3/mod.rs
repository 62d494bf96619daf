//! Step 3: a writer thread per client, draining a bounded queue. No socket is written by two
//! threads or under a lock, a reader that stops stalls nobody, and every end is a clean leave.

pub mod client;
pub mod server;
pub mod wire;

pub const IDEA: &str = "a writer thread per client draining a bounded queue; no socket write under a lock; a clean leave";
