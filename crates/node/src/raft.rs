//! Quorum Raft in the node: [`RaftRules`], the chain rules, and [`RaftMinter`], the
//! single-node block producer (a raft cluster is a new [`BlockProducer`] here). The signature
//! format itself is `cachet_seal::raft`.
//!
//! **Rules.** The quorum PR 395 signature in extraData must recover to the member with that
//! raft id (the node's own `--raft-id` and `--raft-members`); nonce and mixHash zero, no
//! ommers, timestamps in nanoseconds (strictly increasing and at least 10^15, which no
//! seconds timestamp reaches). Difficulty is not checked (GoQuorum does not either).
//!
//! **Producer.** The minter signs each block with the node key as GoQuorum's PR 395 does (`extraData = 32 zero bytes ‖ RLP([raftIdAsciiHex, sig])`, the signature over
//! the header with ommers/tx/receipt roots, bloom and extraData zeroed), with nanosecond
//! timestamps `max(now_ns, parent + 1)` and ethash's saturated difficulty.
//!
//! As GoQuorum's, it mints only when transactions are pending
//! ([`BlockProducer::needs_transactions`]: the driver waits for the transaction source's
//! ready signal, and drops a block that would be empty), at most one block per
//! `--raftblocktime` (default 50 ms). The coinbase is the minter's address (the fees go
//! there). Every signature goes through the seal journal; crash safety as for clique
//! (`<datadir>/sealing.rlp`).

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B64, B256, Bytes, U256};
use cachet_genesis::Engine;
use cachet_keyprovider::NodeKey;
use cachet_seal::{EMPTY_OMMERS_HASH, Header, RaftMembers, Sealer};

use crate::chain::{Chain, HeadInfo};
use crate::consensus::{BlockProducer, ChainRules, Slot};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;
use crate::produce::BuildConfig;

/// The default `--raftblocktime` (milliseconds), GoQuorum's: a throttle on minting, which
/// only happens while transactions are pending.
pub const DEFAULT_RAFT_BLOCK_TIME_MS: u64 = 50;

/// The lowest raft timestamp accepted after genesis: 10^15 ns is 11.6 days after the epoch,
/// while 10^15 s is 31 million years away, so a seconds timestamp never passes.
pub const RAFT_MIN_TIMESTAMP_NS: u64 = 1_000_000_000_000_000;

/// ethash's `MinimumDifficulty` (`params/protocol_params.go`), where raft blocks sit.
pub const RAFT_MIN_DIFFICULTY: u64 = 131_072;

/// Raft's chain rules: who may mint (the members; a cluster adds the members its log adds).
#[derive(Debug, Clone, Default)]
pub struct RaftRules {
    members: Arc<RwLock<RaftMembers>>,
}

impl RaftRules {
    /// Rules accepting blocks minted by `members` (raft id → enode public key).
    pub fn new(members: RaftMembers) -> Self {
        Self {
            members: Arc::new(RwLock::new(members)),
        }
    }

    /// The members whose blocks this node accepts.
    pub fn members(&self) -> RaftMembers {
        self.members
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Accepts blocks of `raft_id` signed by `key` from now on (a member the raft log added;
    /// removed members' old blocks keep verifying, so nothing is ever taken out).
    pub fn add_member(&self, raft_id: u16, key: secp256k1::PublicKey) {
        self.members
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(raft_id, key);
    }
}

impl ChainRules for RaftRules {
    fn engine(&self) -> Engine {
        Engine::Raft
    }

    fn verify(&self, _hash: B256, header: &Header, _parent: &Header) -> Result<Address> {
        let number = header.number;
        let invalid = |rule: String| Error::InvalidBlock { number, rule };
        if header.timestamp < RAFT_MIN_TIMESTAMP_NS {
            return Err(invalid(format!(
                "raft timestamp {} is not in nanoseconds (below 10^15)",
                header.timestamp
            )));
        }
        if header.nonce != B64::ZERO || header.mix_hash != B256::ZERO {
            return Err(invalid("raft blocks have nonce 0 and mixHash 0".into()));
        }
        if header.ommers_hash != EMPTY_OMMERS_HASH {
            return Err(invalid("raft blocks have no ommers".into()));
        }
        let members = self.members.read().unwrap_or_else(PoisonError::into_inner);
        cachet_seal::raft::verify(header, &members).map_err(|source| match source {
            cachet_seal::Error::UnknownRaftMember { raft_id } => invalid(format!(
                "minted by raft id {raft_id}, which is not a known member: pass --raft-members with the cluster's raft ids and enodes"
            )),
            source => Error::Seal { number, source },
        })?;
        Ok(header.beneficiary)
    }
}

/// The difficulty a raft minter writes: ethash's Byzantium adjustment with a nanosecond
/// time delta, which always saturates at `-99`: `max(parent - parent/2048*99, 131072)` (the
/// difficulty bomb is left out; GoQuorum does not check the value).
pub fn raft_difficulty(parent: &Header) -> U256 {
    let step = parent.difficulty / U256::from(2048) * U256::from(99);
    parent
        .difficulty
        .saturating_sub(step)
        .max(U256::from(RAFT_MIN_DIFFICULTY))
}

/// Raft block producer for this node's raft id.
pub struct RaftMinter {
    chain: Arc<Chain>,
    sealer: Sealer,
    key: NodeKey,
    raft_id: u16,
    members: RaftMembers,
    block_time: Duration,
    pending: PendingHeader,
    /// When the last block was minted (or tried): the next one is due `block_time` later.
    last_mint: Option<Instant>,
}

impl std::fmt::Debug for RaftMinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftMinter")
            .field("raft_id", &self.raft_id)
            .field("minter", &self.address())
            .finish_non_exhaustive()
    }
}

/// Unix time in nanoseconds.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

impl RaftMinter {
    /// A minter for `raft_id` signing with the node key, minting every `block_time`.
    ///
    /// # Errors
    /// [`Error::Config`] when the chain is not a raft chain or its members map `raft_id` to
    /// another key; [`Error::Journal`] when the seal journal cannot be opened.
    pub fn new(
        chain: Arc<Chain>,
        datadir: &Path,
        key: NodeKey,
        raft_id: u16,
        block_time: Duration,
    ) -> Result<Self> {
        let Some(rules) = chain.rules_as::<RaftRules>() else {
            return Err(Error::Config(format!(
                "the raft minter cannot mint on a {} chain",
                chain.engine()
            )));
        };
        let members = rules.members();
        if members.get(raft_id) != Some(&key.signer().public_key()) {
            return Err(Error::Config(format!(
                "raft id {raft_id} belongs to another enode in --raft-members: check --raft-id"
            )));
        }
        let sealer = Sealer::open(datadir).map_err(Error::Journal)?;
        Ok(Self {
            chain,
            sealer,
            key,
            raft_id,
            members,
            block_time: block_time.max(Duration::from_millis(1)),
            pending: PendingHeader::new(datadir),
            last_mint: None,
        })
    }

    /// The minter's address (the node key's).
    pub fn address(&self) -> Address {
        self.key.signer().address()
    }

    /// The unsealed child of `head` at `now_ns` (nanoseconds), with this minter as its
    /// coinbase (GoQuorum's minter sets it to the node key's address; the fees go there).
    pub fn build(&self, head: &HeadInfo, now_ns: u64) -> Header {
        let timestamp = now_ns.max(head.header.timestamp.saturating_add(1));
        let mut header =
            self.chain
                .empty_child(head, timestamp, raft_difficulty(&head.header), Vec::new());
        header.beneficiary = self.address();
        header
    }

    /// Builds, signs and imports the next block now, empty (the driver,
    /// [`crate::produce::run`], mints only with transactions).
    ///
    /// # Errors
    /// As the journal and [`Chain::import`].
    pub fn mint_now(&mut self) -> Result<Header> {
        self.mint_at(now_nanos())
    }

    /// Builds, signs and imports the next block as if the clock read `now_ns`.
    ///
    /// # Errors
    /// As the journal and [`Chain::import`].
    pub fn mint_at(&mut self, now_ns: u64) -> Result<Header> {
        let chain = self.chain.clone();
        let header = self.build(&chain.head(), now_ns);
        crate::produce::produce(self, &chain, &header, &BuildConfig::default())
    }

    /// Signs the completed `header` of the block with body `body_rlp` as this node's raft id
    /// through the journal, without importing it; returns the signed header and its body.
    /// When a block is pending at this height (recorded before a crash), that one is signed
    /// instead.
    ///
    /// # Errors
    /// Equivocation, journal I/O or the signature's self-check ([`Error::Seal`]), or
    /// [`Error::Config`] when `sealing.rlp` cannot be written.
    pub fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)> {
        self.last_mint = Some(Instant::now());
        let (header, body) = self.pending.take_or_record(header, body_rlp)?;
        let number = header.number;
        let header = Header {
            extra_data: Bytes::new(),
            ..header
        };
        let sealed = self
            .sealer
            .raft(&header, self.raft_id, self.key.signer(), &self.members)
            .map_err(|source| Error::Seal { number, source })?;
        Ok((sealed, body))
    }
}

impl BlockProducer for RaftMinter {
    fn address(&self) -> Address {
        Self::address(self)
    }

    fn announce(&self) {
        tracing::info!(target: "cachet::sealer", raft_id = self.raft_id, minter = %self.address(),
            block_time_ms = self.block_time.as_millis() as u64, "raft minter started (mints when transactions are pending)");
    }

    /// GoQuorum mints only when transactions are pending.
    fn needs_transactions(&self) -> bool {
        true
    }

    /// At most one block per `block_time` (the first at once), on whatever the head is then;
    /// the driver asks only while transactions are pending.
    fn next_slot(&mut self, head: &HeadInfo) -> Option<Slot> {
        let delay = self.last_mint.map_or(Duration::ZERO, |last| {
            (last + self.block_time).saturating_duration_since(Instant::now())
        });
        let at = now_nanos().saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
        Some(Slot {
            header: self.build(head, at),
            delay,
        })
    }

    fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)> {
        Self::seal(self, header, body_rlp)
    }

    fn retry_after(&self) -> Duration {
        self.block_time
    }

    /// Raft has no block period (it mints only while transactions are pending, every
    /// `--raftblocktime`, 50 ms by default): the doppelganger window counts the raft block
    /// time but at least one second per period.
    fn block_period(&self) -> Duration {
        self.block_time.max(Duration::from_secs(1))
    }

    fn sealed_here(&self, header: &Header) -> Result<bool> {
        self.sealer
            .sealed(Engine::Raft, header)
            .map_err(|source| Error::Seal {
                number: header.number,
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_raft_difficulty_saturating_at_the_ethash_minimum() {
        // GoQuorum 7nodes raft genesis: difficulty 0 → the first block sits at 131072.
        let genesis = Header::default();
        assert_eq!(raft_difficulty(&genesis), U256::from(RAFT_MIN_DIFFICULTY));
        // Above the minimum the ns delta saturates the adjustment at -99/2048.
        let parent = Header {
            difficulty: U256::from(2048u64 * 1000),
            ..Header::default()
        };
        assert_eq!(
            raft_difficulty(&parent),
            U256::from(2048u64 * 1000 - 99_000)
        );
    }
}
