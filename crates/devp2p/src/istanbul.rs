//! GoQuorum's consensus sub-protocol `istanbul/100`, run beside `eth` on IBFT/QBFT chains
//! (`docs/dev/bft-wire.md` §1). This crate only carries its frames: the consensus message is
//! neither decoded nor checked here beyond its size.
//!
//! Facts (GoQuorum `ConsenSys/quorum@0d4a719f`, "Q"; Besu `hyperledger/besu@3fd224e2`, "B"):
//! - name `istanbul`, version 100, a message space of 22 ids (Q `consensus/protocol.go`
//!   `IstanbulProtocol`; B `Istanbul100SubProtocol`, `QbftV1.MESSAGE_SPACE = 0x16`). Offsets
//!   follow devp2p's rule, so beside eth/66–68 (17 ids, Q `eth/protocols/eth/protocol.go`
//!   `protocolLengths`) it starts at `0x10 + 17 = 0x21`.
//! - no handshake of its own: GoQuorum attaches it to the peer only once eth's Status exchange
//!   has registered that peer (Q `eth/handler.go` `makeQuorumConsensusProtocol`,
//!   `p.EthPeerRegistered`); the peer service forwards frames only after Status.
//! - codes used: `0x11` (GoQuorum IBFT's `istanbulMsg`, payload an RLP string wrapping the
//!   message) and `0x12`–`0x15` (QBFT PRE-PREPARE, PREPARE, COMMIT, ROUND-CHANGE, payload the
//!   message RLP itself) (Q `consensus/istanbul/backend/handler.go`, `backend.go` `Gossip`).
//! - anything else in the range is ignored, not a disconnect: GoQuorum's consensus loop hands
//!   other codes to nobody and reads on (Q `eth/handler.go` `handleConsensus`: not handled and
//!   no fall-through backend on `istanbul/100` → `nil`); Besu's QBFT controller throws on them
//!   and its event loop logs and carries on (B `QbftController.handleMessage`,
//!   `EventMultiplexer.handleBftEvent`). GoQuorum sends nothing but consensus messages on it:
//!   its only writers are `SendConsensus`/`SendQBFTConsensus`, called from `Gossip` alone
//!   (Q `eth/protocols/eth/peer.go`); its `NewBlockMsg` (0x07) interception in `HandleMsg` only
//!   matters on the legacy `istanbul/64|99` that replace eth. Blocks travel on eth.
//! - a message over 10 MiB ends the connection, as in GoQuorum (Q `eth/handler.go`
//!   `protocolMaxMsgSize`, checked in `handleConsensus`).

use crate::DecodeError;
use crate::p2p::{Capability, Protocol};

/// The capability name.
pub const NAME: &str = "istanbul";
/// The only version Cachet speaks (99 and 64 replace `eth`; neither Besu nor Cachet run them).
pub const VERSION: u64 = 100;
/// Its message space: 22 ids, although only 0x11–0x15 are used.
pub const MESSAGES: u64 = 22;
/// GoQuorum IBFT's single message code (`istanbulMsg`).
pub const ISTANBUL_MSG: u64 = 0x11;
/// QBFT PRE-PREPARE (Besu: PROPOSAL).
pub const PREPREPARE: u64 = 0x12;
/// QBFT PREPARE.
pub const PREPARE: u64 = 0x13;
/// QBFT COMMIT.
pub const COMMIT: u64 = 0x14;
/// QBFT ROUND-CHANGE.
pub const ROUND_CHANGE: u64 = 0x15;
/// Largest payload accepted or sent (GoQuorum's `protocolMaxMsgSize`).
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// The protocol as advertised in Hello.
pub fn protocol() -> Protocol {
    Protocol {
        capability: Capability::new(NAME, VERSION),
        messages: MESSAGES,
    }
}

/// Whether `code` (relative to the sub-protocol) is one a consensus engine sends.
pub const fn is_consensus_code(code: u64) -> bool {
    matches!(code, ISTANBUL_MSG..=ROUND_CHANGE)
}

/// Sorts a received message of the sub-protocol (`code` relative to its offset, `payload`
/// decompressed): `Ok(true)` to hand it on as it is, `Ok(false)` to ignore it (a code no
/// engine uses).
///
/// # Errors
/// [`DecodeError::TooLarge`] for a payload over [`MAX_PAYLOAD`] (the peer is disconnected).
pub fn accept(code: u64, payload: &[u8]) -> Result<bool, DecodeError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(DecodeError::TooLarge {
            what: "istanbul/100 message",
            size: payload.len(),
            cap: MAX_PAYLOAD,
        });
    }
    Ok(is_consensus_code(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eth::EthVersion;
    use crate::p2p::{SharedCapability, negotiate};

    /// What GoQuorum 24.4 lists in Hello on a QBFT chain: eth/66, eth/65 (Q
    /// `eth/protocols/eth/protocol.go` `ProtocolVersions`), then istanbul/100, 99, 64 (Q
    /// `consensus/protocol.go`).
    fn goquorum_hello() -> Vec<Capability> {
        vec![
            Capability::new("eth", 66),
            Capability::new("eth", 65),
            Capability::new(NAME, 100),
            Capability::new(NAME, 99),
            Capability::new(NAME, 64),
        ]
    }

    fn ours() -> Vec<Protocol> {
        let mut p: Vec<Protocol> = EthVersion::ALL.iter().map(|v| v.protocol()).collect();
        p.push(protocol());
        p
    }

    #[test]
    fn negotiates_eth66_and_istanbul100_with_goquorum_at_0x10_and_0x21() {
        // Known answer: eth/66 takes 17 ids from 0x10 (Q `protocolLengths` {66: 17}), so
        // istanbul/100 starts at 0x21 and spans 22 ids (Q `IstanbulProtocol.Lengths`).
        let shared = negotiate(&ours(), &goquorum_hello());
        assert_eq!(
            shared,
            vec![
                SharedCapability {
                    capability: Capability::new("eth", 66),
                    offset: 0x10,
                    messages: 17,
                },
                SharedCapability {
                    capability: Capability::new(NAME, 100),
                    offset: 0x21,
                    messages: 22,
                },
            ]
        );
        let istanbul = &shared[1];
        // The wire ids of GoQuorum's codes: istanbulMsg 0x11 → 0x32, PRE-PREPARE 0x12 → 0x33,
        // ROUND-CHANGE 0x15 → 0x36; the space ends before 0x21 + 22 = 0x37.
        assert_eq!(istanbul.relative(0x32), Some(ISTANBUL_MSG));
        assert_eq!(istanbul.relative(0x33), Some(PREPREPARE));
        assert_eq!(istanbul.relative(0x36), Some(ROUND_CHANGE));
        assert_eq!(istanbul.relative(0x36 + 1), None);
        assert_eq!(istanbul.relative(0x20), None);
    }

    #[test]
    fn a_peer_without_istanbul_shares_eth_only_and_a_snap_peer_sorts_after_it() {
        let shared = negotiate(&ours(), &[Capability::new("eth", 68)]);
        assert_eq!(shared.len(), 1);
        let mut local = ours();
        local.push(Protocol {
            capability: Capability::new("snap", 1),
            messages: 8,
        });
        let remote = [
            Capability::new("snap", 1),
            Capability::new(NAME, 100),
            Capability::new("eth", 68),
        ];
        let shared = negotiate(&local, &remote);
        let names: Vec<(&str, u64)> = shared
            .iter()
            .map(|s| (s.capability.name.as_str(), s.offset))
            .collect();
        // 0x10 + 17 = 0x21; 0x21 + 22 = 0x37.
        assert_eq!(names, [("eth", 0x10), (NAME, 0x21), ("snap", 0x37)]);
    }

    #[test]
    fn hands_on_consensus_codes_ignores_the_rest_and_refuses_oversized_payloads() {
        for code in [ISTANBUL_MSG, PREPREPARE, PREPARE, COMMIT, ROUND_CHANGE] {
            assert_eq!(accept(code, &[0xc0]), Ok(true), "{code:#x}");
        }
        // NewBlockMsg's code and the unused rest of the space: ignored, not an error.
        for code in [0x00, 0x07, 0x10, 0x16] {
            assert_eq!(accept(code, &[0xc0]), Ok(false), "{code:#x}");
        }
        assert_eq!(accept(PREPARE, &vec![0; MAX_PAYLOAD]), Ok(true));
        assert!(matches!(
            accept(PREPARE, &vec![0; MAX_PAYLOAD + 1]),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
