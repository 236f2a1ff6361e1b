//! The p2p base protocol: Hello, Disconnect, Ping/Pong, snappy and capability negotiation.

mod disconnect;

pub use disconnect::DisconnectReason;
