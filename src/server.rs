//! The listener: accepts connections and gives each its own thread (`client-PEER`), which runs
//! `connection::run` until the client leaves. Nothing here reads from or writes to a joined client.
//!
//! Stopping, as tiny-http does it: the registry's stop flag is set (which also tells every
//! client and closes every connection), then a connection to ourselves wakes the blocking
//! `accept`; the accept loop ends and waits for every client thread. Dropping a [`Server`] stops
//! it and waits, so a test that fails half-way leaves no thread behind. The library installs no
//! signal handler: `main` turns Ctrl-C into [`Stopper::stop`].

use log::{debug, info, warn};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::cache::{CacheStats, FrameCache};
use crate::config::ServerConfig;
use crate::connection;
use crate::context::Context;
use crate::outbox::CLIENT_STACK;
use crate::registry::Registry;
use crate::store::{Opening, Store};
use crate::video::catalog::LiveCatalog;
use crate::wire::{ErrorCode, ServerMsg};

/// A running server. Dropping it stops it and waits for its threads.
pub struct Server {
    ctx: Arc<Context>,
    stopper: Stopper,
    local_addr: SocketAddr,
    /// The accept loop's thread; `None` once joined.
    listener: Option<JoinHandle<()>>,
}

/// Stops a server from another thread (`main`'s Ctrl-C handler holds one). Clones share the
/// server's one stop flag.
#[derive(Clone)]
pub struct Stopper {
    registry: Registry,
    /// Where to connect to wake the accept loop.
    wake: SocketAddr,
}

impl Stopper {
    /// Tells every client, closes every connection and wakes the accept loop, which then
    /// waits for every client thread to end. Safe to call more than once, from any thread.
    pub fn stop(&self) {
        if !self.registry.shut_down_all() {
            return;
        }
        info!("shutting down");
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }
}

impl Server {
    /// Starts a server on an already bound listener (tests bind `127.0.0.1:0`) and returns
    /// at once.
    pub fn spawn(listener: TcpListener, config: ServerConfig) -> io::Result<Server> {
        let catalog = LiveCatalog::open(&config.videos, config.engine);
        let count = catalog.current().videos.len();
        info!("serving {count} videos from {}", config.videos.display());
        let budget = config.cache_mb.saturating_mul(1 << 20);
        let frames = FrameCache::new(budget, config.jpeg_quality, config.engine);
        let opening = if config.init_db { Opening::Init } else { Opening::Normal };
        let store =
            Arc::new(Store::open_with(&config.db, opening, config.sync).map_err(io::Error::other)?);
        let registry = Registry::new(config.admission());
        // A message kept for someone online goes to their writer in memory; the row stays
        // its durable copy until acknowledged.
        let online = registry.clone();
        store.on_kept(move |to, message| {
            if let Some(recipient) = online.lookup(to) {
                recipient.outbox.hand_over(message);
            }
        });
        let watches = crate::watch::Watches::default();
        let ctx = Arc::new(Context { config, registry, catalog, frames, store, watches });
        let local_addr = listener.local_addr()?;
        ctx.store.note_holder(&format!("pid {}, listening on {local_addr}", std::process::id()));
        let mut wake = local_addr;
        if wake.ip().is_unspecified() {
            let loopback: std::net::IpAddr = match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            wake.set_ip(loopback);
        }
        let stopper = Stopper { registry: ctx.registry.clone(), wake };
        let accept_ctx = ctx.clone();
        let listener = thread::Builder::new()
            .name("listener".into())
            .spawn(move || accept_loop(listener, accept_ctx))?;
        Ok(Server { ctx, stopper, local_addr, listener: Some(listener) })
    }

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn registry(&self) -> &Registry {
        &self.ctx.registry
    }

    /// The database: names, and the messages waiting for their recipients.
    pub fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// What the shared frame cache has done so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.ctx.frames.stats()
    }

    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops the server and waits until every thread it started has ended.
    pub fn shutdown(mut self) {
        self.stopper.stop();
        self.join();
    }

    /// Waits until the server stops (after a [`Stopper`] fires).
    pub fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
            // Every session has ended: the rooms' watches end with the server...
            self.ctx.watches.stop_all();
            // ...and every stream with them: now the producers can go.
            self.ctx.frames.close();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopper.stop();
        self.join();
    }
}

/// Accepts connections and gives each its own thread, until the stop flag is set.
fn accept_loop(listener: TcpListener, ctx: Arc<Context>) {
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    for conn in listener.incoming() {
        if ctx.registry.is_shutting_down() {
            break;
        }
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors, or a connection reset before we took it:
                // wait a little rather than spin, and keep serving.
                warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        handlers.retain(|h| !h.is_finished());
        let Ok(peer_addr) = stream.peer_addr() else { continue };
        let peer = peer_addr.to_string();
        let socket = Arc::new(stream);
        let id = match ctx.registry.open(socket.clone(), peer_addr.ip()) {
            Ok(id) => id,
            Err(refusal) => {
                warn!("{peer} refused: {}", refusal.text);
                refuse(&socket, refusal.code, &refusal.text);
                continue;
            }
        };
        // Debug: a port probe (connect, then close) is not news; a join is logged when made.
        debug!("{peer} connected");
        let conn_ctx = ctx.clone();
        let spawned = thread::Builder::new()
            .name(format!("client-{peer}"))
            .stack_size(CLIENT_STACK)
            .spawn(move || connection::run(socket, peer, id, conn_ctx));
        match spawned {
            Ok(h) => handlers.push(h),
            Err(e) => {
                warn!("cannot start a thread for connection {id}: {e}");
                ctx.registry.close(id);
            }
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// Sends one error frame on a connection we will not serve, then closes it.
fn refuse(mut socket: &TcpStream, code: ErrorCode, text: &str) {
    let _ = socket.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = socket.write_all(&ServerMsg::Error { code, text: text.into() }.encode());
    let _ = socket.shutdown(Shutdown::Both);
}
