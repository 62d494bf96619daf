//! Step 4: sealing done right. A hybrid envelope (AES-256-GCM, its key wrapped with RSA-OAEP,
//! the whole signed with RSA-PSS) and a replay guard, in place of RSA PKCS#1 v1.5.

pub mod client;
pub mod seal;
pub mod server;
pub mod wire;

pub const IDEA: &str =
    "sealing done right: a hybrid envelope (OAEP, AES-GCM, a PSS signature) and a replay guard";
