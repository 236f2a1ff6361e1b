//! The eth versions we speak and every way they differ: the one place the codec and the peer
//! service ask (devp2p `caps/eth.md`, "Change Log"; geth `eth/protocols/eth/protocol.go`).
//!
//! | version | message ids | differs from eth/68 |
//! |---------|-------------|---------------------|
//! | eth/66  | 17 (0x00–0x10) | `GetNodeData` 0x0d / `NodeData` 0x0e exist; `NewPooledTransactionHashes` is a plain list of hashes |
//! | eth/67  | 17 | `NewPooledTransactionHashes` is a plain list of hashes |
//! | eth/68  | 17 | — (`NewPooledTransactionHashes` carries types, sizes, hashes: EIP-5793) |
//!
//! Request ids (EIP-2481), Status with the EIP-2124 fork id and every other message are the same
//! in all three. eth/67 (EIP-4938) removed `GetNodeData`/`NodeData` but keeps their ids
//! reserved: geth's `protocolLengths` is 17 for eth/67 and eth/68, so the message-id offsets of
//! any capability after eth do not depend on which of the three was negotiated.

use crate::eth::message::id;
use crate::p2p::{Capability, Protocol};

/// An eth protocol version Cachet speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EthVersion {
    /// eth/66 (EIP-2481 request ids; still has `GetNodeData`). GoQuorum 24.4's newest.
    Eth66,
    /// eth/67 (EIP-4938: no `GetNodeData`/`NodeData`).
    Eth67,
    /// eth/68 (EIP-5793: typed, sized transaction announcements).
    Eth68,
}

impl EthVersion {
    /// Every version we advertise, oldest first.
    pub const ALL: [Self; 3] = [Self::Eth66, Self::Eth67, Self::Eth68];

    /// The version number in Hello and Status.
    pub const fn number(self) -> u64 {
        match self {
            Self::Eth66 => 66,
            Self::Eth67 => 67,
            Self::Eth68 => 68,
        }
    }

    /// The version for a number, if we speak it.
    pub fn from_number(n: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.number() == n)
    }

    /// How many message ids the version takes in the id space (its offset span).
    pub const fn messages(self) -> u64 {
        17
    }

    /// Whether the version defines message `id` (relative to the eth offset). 0x0b and 0x0c
    /// were never assigned; 0x0d/0x0e (`GetNodeData`/`NodeData`) exist up to eth/66.
    pub const fn defines(self, id: u64) -> bool {
        match id {
            id::STATUS..=id::POOLED_TRANSACTIONS | id::GET_RECEIPTS | id::RECEIPTS => true,
            id::GET_NODE_DATA | id::NODE_DATA => matches!(self, Self::Eth66),
            _ => false,
        }
    }

    /// Whether `NewPooledTransactionHashes` carries each transaction's type and size (eth/68)
    /// rather than only its hash (eth/66, eth/67).
    pub const fn announces_types_and_sizes(self) -> bool {
        matches!(self, Self::Eth68)
    }

    /// The protocol as we advertise it in Hello.
    pub fn protocol(self) -> Protocol {
        Protocol {
            capability: Capability::new("eth", self.number()),
            messages: self.messages(),
        }
    }
}

impl std::fmt::Display for EthVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "eth/{}", self.number())
    }
}

/// Every eth version we advertise, as protocols for Hello and negotiation.
pub fn eth_protocols() -> Vec<Protocol> {
    EthVersion::ALL
        .into_iter()
        .map(EthVersion::protocol)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::negotiate;

    #[test]
    fn numbers_round_trip_and_unknown_versions_are_none() {
        for v in EthVersion::ALL {
            assert_eq!(EthVersion::from_number(v.number()), Some(v));
        }
        for n in [0, 63, 64, 65, 69, 100] {
            assert_eq!(EthVersion::from_number(n), None);
        }
        assert_eq!(EthVersion::Eth66.to_string(), "eth/66");
    }

    /// The defined ids, per devp2p `caps/eth.md`: 0x00–0x0a and 0x0f/0x10 in all three,
    /// 0x0d/0x0e only in eth/66, 0x0b/0x0c in none.
    #[test]
    fn defines_node_data_only_in_eth66() {
        let table: [(u64, [bool; 3]); 17] = [
            (0x00, [true; 3]),
            (0x01, [true; 3]),
            (0x02, [true; 3]),
            (0x03, [true; 3]),
            (0x04, [true; 3]),
            (0x05, [true; 3]),
            (0x06, [true; 3]),
            (0x07, [true; 3]),
            (0x08, [true; 3]),
            (0x09, [true; 3]),
            (0x0a, [true; 3]),
            (0x0b, [false; 3]),
            (0x0c, [false; 3]),
            (0x0d, [true, false, false]),
            (0x0e, [true, false, false]),
            (0x0f, [true; 3]),
            (0x10, [true; 3]),
        ];
        for (id, want) in table {
            for (v, w) in EthVersion::ALL.into_iter().zip(want) {
                assert_eq!(v.defines(id), w, "{v} id {id:#x}");
            }
        }
        for v in EthVersion::ALL {
            assert!(!v.defines(17));
            assert!(!v.defines(u64::MAX));
        }
    }

    /// Highest common version wins; the span (17) is the same for all three, so a capability
    /// after eth keeps its offset (snap/1 at 0x21 whichever eth was chosen).
    #[test]
    fn negotiates_the_highest_common_version() {
        let cases: [(&[u64], Option<u64>); 6] = [
            (&[66], Some(66)),
            (&[67], Some(67)),
            (&[68], Some(68)),
            (&[63, 64, 65, 66], Some(66)),
            (&[66, 67, 68, 69], Some(68)),
            (&[65], None),
        ];
        for (remote, want) in cases {
            let mut caps: Vec<Capability> =
                remote.iter().map(|v| Capability::new("eth", *v)).collect();
            caps.push(Capability::new("snap", 1));
            let mut local = eth_protocols();
            local.push(Protocol {
                capability: Capability::new("snap", 1),
                messages: 8,
            });
            let shared = negotiate(&local, &caps);
            let eth = shared.iter().find(|c| c.capability.name == "eth");
            assert_eq!(eth.map(|c| c.capability.version), want, "{remote:?}");
            if let Some(eth) = eth {
                assert_eq!((eth.offset, eth.messages), (0x10, 17));
                let snap = shared.iter().find(|c| c.capability.name == "snap");
                assert_eq!(snap.map(|c| c.offset), Some(0x21));
            }
        }
    }
}
