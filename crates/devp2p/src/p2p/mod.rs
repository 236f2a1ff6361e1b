//! The p2p base protocol: Hello, Disconnect, Ping/Pong, snappy compression and capability
//! negotiation (devp2p `rlpx.md`, "Capability Messaging").

mod capability;
mod disconnect;
mod hello;
pub mod message;
mod session;

pub use capability::{BASE_PROTOCOL_LENGTH, Protocol, SharedCapability, negotiate};
pub use disconnect::DisconnectReason;
pub use hello::{
    Capability, Hello, MAX_CAPABILITIES, MAX_CAPABILITY_NAME, MAX_CLIENT_ID, P2P_VERSION,
};
pub use session::Session;
