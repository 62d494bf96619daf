//! Step 5: streaming done right. A catalog read as the files are named, the exact split, frames
//! that carry their index and label, pacing at the video's rate, a stop that stops the sending,
//! and the stream on threads of its own, so chat goes on while it plays.

pub mod client;
pub mod seal;
pub mod server;
pub mod wire;

pub const IDEA: &str =
    "streaming done right: the exact split, labelled frames, pacing, stop, chat while it plays";
