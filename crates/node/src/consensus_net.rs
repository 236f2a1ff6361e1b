//! The network as the BFT consensus driver sees it: frames of the `istanbul/100` sub-protocol
//! (`docs/dev/bft-wire.md` §1) going out to every peer that speaks it and coming in with the
//! peer that sent them. The devp2p side implements [`ConsensusNet`] and feeds an
//! [`InboundFrame`] channel; tests connect drivers in process through the same two types.

use std::fmt;

use alloy_primitives::Bytes;
use cachet_devp2p::net::PeerId;

/// One message of `istanbul/100` as it travels: its code relative to the sub-protocol
/// (QBFT 0x12–0x15, GoQuorum IBFT 0x11) and its payload exactly as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsensusFrame {
    /// Message code relative to the sub-protocol's offset.
    pub code: u64,
    /// The payload bytes as sent (QBFT: the message RLP itself).
    pub payload: Bytes,
}

/// A frame received from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundFrame {
    /// The peer (its RLPx-proven node id) the frame came from; not the message's signer.
    pub peer: PeerId,
    /// The frame.
    pub frame: ConsensusFrame,
}

/// What the consensus driver asks of the network. Sending never waits: a peer whose queue is
/// full misses the frame (consensus recovers through round changes).
pub trait ConsensusNet: Send + Sync + fmt::Debug {
    /// Sends `frame` to every connected peer that negotiated `istanbul/100`.
    fn broadcast(&self, frame: ConsensusFrame);

    /// The validator set of the height the driver starts (it changes by votes); a network
    /// that sends to validators only follows it. The default ignores it.
    fn target_validators(&self, validators: &[alloy_primitives::Address]) {
        let _ = validators;
    }
}
