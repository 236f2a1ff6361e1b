//! Cachet's raft transport: an RLPx sub-protocol `raft/1` beside eth on Quorum Raft chains
//! (`docs/dev/raft.md` "Transport", decisions 480–483). This crate only carries its frames:
//! each one is a raft message in `cachet_raft::wire`'s encoding, decoded by the node.
//!
//! GoQuorum carries raft over etcd's `rafthttp` on `--raftport`, which authenticates nobody
//! (`docs/raft-interop.md` §3). Here the RLPx handshake has proven the peer's node key before
//! any frame arrives, so the node can bind each message to the raft id of that key.
//!
//! - one message id (`0x00`, [`RAFT_MSG`]): the payload is one encoded raft message;
//! - like `istanbul/100`, frames are handed on only after eth's Status; an earlier one is
//!   dropped;
//! - a payload over [`MAX_PAYLOAD`] (16 MiB, the raft decoder's cap) ends the connection.

use crate::DecodeError;
use crate::p2p::{Capability, Protocol};

/// The capability name.
pub const NAME: &str = "raft";
/// The version.
pub const VERSION: u64 = 1;
/// Its message space: one id.
pub const MESSAGES: u64 = 1;
/// The one message: a raft message (`cachet_raft::wire::encode_message`).
pub const RAFT_MSG: u64 = 0x00;
/// Largest payload accepted or sent (the raft decoder's cap, one RLPx frame).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// The protocol as advertised in Hello.
pub fn protocol() -> Protocol {
    Protocol {
        capability: Capability::new(NAME, VERSION),
        messages: MESSAGES,
    }
}

/// Sorts a received message of the sub-protocol (`code` relative to its offset, `payload`
/// decompressed): `Ok(true)` to hand it on, `Ok(false)` to ignore it (an unknown code).
///
/// # Errors
/// [`DecodeError::TooLarge`] for a payload over [`MAX_PAYLOAD`] (the peer is disconnected).
pub fn accept(code: u64, payload: &[u8]) -> Result<bool, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge {
            what: "raft/1 message",
            size: payload.len(),
            cap: MAX_PAYLOAD,
        });
    }
    Ok(code == RAFT_MSG)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::EthVersion;
    use crate::p2p::{SharedCapability, negotiate};

    #[test]
    fn negotiates_raft1_after_eth_with_one_id() {
        let mut ours: Vec<Protocol> = EthVersion::ALL.iter().map(|v| v.protocol()).collect();
        ours.push(protocol());
        let shared = negotiate(
            &ours,
            &[Capability::new("eth", 68), Capability::new(NAME, 1)],
        );
        // eth/68 takes 17 ids from 0x10, so raft/1 sits at 0x21 with one id.
        assert_eq!(
            shared[1],
            SharedCapability {
                capability: Capability::new(NAME, 1),
                offset: 0x21,
                messages: 1,
            }
        );
        assert_eq!(shared[1].relative(0x21), Some(RAFT_MSG));
        assert_eq!(shared[1].relative(0x22), None);
        // A peer that does not offer it shares eth only.
        assert_eq!(negotiate(&ours, &[Capability::new("eth", 68)]).len(), 1);
    }

    #[test]
    fn hands_on_raft_messages_and_refuses_oversized_payloads() {
        assert_eq!(accept(RAFT_MSG, &[0x08, 0x01]), Ok(true));
        assert_eq!(accept(1, &[0x08]), Ok(false));
        assert_eq!(accept(RAFT_MSG, &vec![0; MAX_PAYLOAD]), Ok(true));
        assert!(matches!(
            accept(RAFT_MSG, &vec![0; MAX_PAYLOAD + 1]),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
