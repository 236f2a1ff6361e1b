//! Capability negotiation and message-id offsets (devp2p `rlpx.md`, "Message ID-based
//! Multiplexing").

use crate::p2p::Capability;

/// The first message id after the p2p protocol's reserved range 0x00–0x0f.
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;

/// A protocol we run over RLPx: its capability and how many message ids it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Name and version.
    pub capability: Capability,
    /// How many message ids the version uses (eth/68: 17).
    pub messages: u64,
}

/// A capability both sides speak, with its place in the message-id space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCapability {
    /// Name and version.
    pub capability: Capability,
    /// Its first message id.
    pub offset: u64,
    /// How many ids it uses.
    pub messages: u64,
}

impl SharedCapability {
    /// The id relative to this capability, if `id` falls in its range.
    pub fn relative(&self, id: u64) -> Option<u64> {
        id.checked_sub(self.offset).filter(|r| *r < self.messages)
    }
}

/// Negotiates: the protocols both sides list with equal name and version; of several shared
/// versions of one name the highest wins; offsets are assigned from 0x10 in name order.
pub fn negotiate(local: &[Protocol], remote: &[Capability]) -> Vec<SharedCapability> {
    let mut shared: Vec<&Protocol> = local
        .iter()
        .filter(|p| remote.contains(&p.capability))
        .collect();
    shared.sort_by(|a, b| a.capability.cmp(&b.capability));
    // Keep the highest version per name: after sorting, the last of each name.
    let mut best: Vec<&Protocol> = Vec::new();
    for p in shared {
        match best.last_mut() {
            Some(last) if last.capability.name == p.capability.name => *last = p,
            _ => best.push(p),
        }
    }
    let mut offset = BASE_PROTOCOL_LENGTH;
    best.into_iter()
        .map(|p| {
            let s = SharedCapability {
                capability: p.capability.clone(),
                offset,
                messages: p.messages,
            };
            offset = offset.saturating_add(p.messages);
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(name: &str, version: u64, messages: u64) -> Protocol {
        Protocol {
            capability: Capability::new(name, version),
            messages,
        }
    }

    #[test]
    fn assigns_offsets_in_name_order_with_the_highest_shared_version() {
        let local = [
            proto("snap", 1, 8),
            proto("eth", 67, 17),
            proto("eth", 68, 17),
            proto("les", 4, 23),
        ];
        let remote = [
            Capability::new("eth", 67),
            Capability::new("eth", 68),
            Capability::new("snap", 1),
            Capability::new("wit", 0),
        ];
        let shared = negotiate(&local, &remote);
        assert_eq!(
            shared,
            vec![
                SharedCapability {
                    capability: Capability::new("eth", 68),
                    offset: 0x10,
                    messages: 17
                },
                SharedCapability {
                    capability: Capability::new("snap", 1),
                    offset: 0x21,
                    messages: 8
                },
            ]
        );
        assert_eq!(shared[0].relative(0x10), Some(0));
        assert_eq!(shared[0].relative(0x20), Some(16));
        assert_eq!(shared[0].relative(0x21), None);
        assert_eq!(shared[0].relative(0x0f), None);
    }

    #[test]
    fn shares_nothing_when_versions_differ() {
        assert!(negotiate(&[proto("eth", 68, 17)], &[Capability::new("eth", 67)]).is_empty());
    }
}
