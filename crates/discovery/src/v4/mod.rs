//! discv4: the packet codec, the Kademlia table and the UDP service.

mod config;
mod handle;
mod message;
mod packet;
mod rate_limit;
mod rlp;
mod service;
mod table;

pub use config::Discv4Config;
pub use handle::{Discv4, Discv4Event, Discv4Handle, RemoteEnr};
pub use message::{
    EnrRequest, EnrResponse, FindNode, MAX_ENR_SIZE, MAX_NEIGHBORS, Message, Neighbors,
    PING_VERSION, Ping, Pong,
};
pub use packet::{HEADER_SIZE, MAX_PACKET_SIZE, Packet, decode_packet, encode_packet};
pub use rate_limit::{MAX_SOURCES, RateLimit};
pub use table::{BUCKET_SIZE, log_distance};

#[cfg(test)]
mod tests;
