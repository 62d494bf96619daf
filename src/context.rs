//! What every session on the server needs, shared by all of them: the settings, who is
//! online, the videos, the frame cache, the database and the chat memory budget. The server
//! makes one and hands each connection's thread an `Arc` of it.

use std::sync::Arc;

use crate::cache::FrameCache;
use crate::config::ServerConfig;
use crate::registry::Registry;
use crate::store::Store;
use crate::video::catalog::LiveCatalog;
use crate::watch::Watches;

/// What every session needs from the server (see the module's summary).
pub struct Context {
    pub config: ServerConfig,
    /// Who is online.
    pub registry: Registry,
    /// The videos on offer.
    pub catalog: LiveCatalog,
    /// Encoded frames, shared by every stream.
    pub frames: FrameCache,
    /// Names bound to keys, and messages held for users who are offline.
    pub store: Arc<Store>,
    /// The rooms watching a video together.
    pub watches: Watches,
}
