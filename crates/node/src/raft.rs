//! The single-node Quorum Raft minter: signs each block with the node key as GoQuorum's
//! PR 395 does (`extraData = 32 zero bytes ‖ RLP([raftIdAsciiHex, sig])`, the signature over
//! the header with ommers/tx/receipt roots, bloom and extraData zeroed), with nanosecond
//! timestamps `max(now_ns, parent + 1)` and ethash's saturated difficulty.
//!
//! GoQuorum mints only when transactions are pending (`--raftblocktime` throttles it).
//! Cachet executes no transactions yet, so this minter mints an empty block every
//! `--raftblocktime` instead, so that a devnet shows blocks. Every signature goes through
//! the seal journal; crash safety as for clique (`<datadir>/sealing.rlp`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, Bytes};
use cachet_keyprovider::NodeKey;
use cachet_seal::{Header, RaftMembers, Sealer};
use tokio::sync::watch;

use crate::block::EMPTY_BODY_RLP;
use crate::chain::{Chain, HeadInfo};
use crate::consensus::{Consensus, raft_difficulty};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;

/// Cachet's default `--raftblocktime` (milliseconds). GoQuorum's is 50, a throttle on minting
/// that only happens with pending transactions; Cachet mints empty blocks on this timer, where
/// 50 ms would write 1.7 million blocks a day.
pub const DEFAULT_RAFT_BLOCK_TIME_MS: u64 = 1000;

/// Raft block producer for this node's raft id.
pub struct RaftMinter {
    chain: Arc<Chain>,
    sealer: Sealer,
    key: NodeKey,
    raft_id: u16,
    members: RaftMembers,
    block_time: Duration,
    pending: PendingHeader,
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
        let Consensus::Raft(params) = chain.consensus() else {
            return Err(Error::Config(format!(
                "the raft minter cannot mint on a {} chain",
                chain.consensus().name()
            )));
        };
        let members = params.members.clone();
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
        })
    }

    /// The minter's address (the node key's).
    pub fn address(&self) -> Address {
        self.key.signer().address()
    }

    /// The unsealed child of `head` at `now_ns` (nanoseconds).
    pub fn build(&self, head: &HeadInfo, now_ns: u64) -> Header {
        let timestamp = now_ns.max(head.header.timestamp.saturating_add(1));
        self.chain
            .empty_child(head, timestamp, raft_difficulty(&head.header), Vec::new())
    }

    /// Runs until `allowed` turns false or is dropped.
    pub async fn run(mut self, mut allowed: watch::Receiver<bool>) {
        tracing::info!(target: "cachet::sealer", raft_id = self.raft_id, minter = %self.address(),
            block_time_ms = self.block_time.as_millis() as u64, "raft minter started (mints on a timer until cachet executes transactions)");
        let mut tick = tokio::time::interval(self.block_time);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = allowed.changed() => if r.is_err() { break },
            }
            if !*allowed.borrow() {
                break;
            }
            if let Err(e) = self.mint_now() {
                tracing::warn!(target: "cachet::sealer", error = &e as &dyn std::error::Error, "minting failed; retrying next tick");
            }
        }
        tracing::info!(target: "cachet::sealer", "raft minter stopped");
    }

    /// Builds, signs and imports the next block now.
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
        let head = self.chain.head();
        let header = self.build(&head, now_ns);
        self.produce(&header)
    }

    /// Signs `header` as this node's raft id through the journal, without importing it.
    /// When a header is pending at this height (recorded before a crash), that one is signed
    /// instead.
    ///
    /// # Errors
    /// Equivocation, journal I/O or the signature's self-check ([`Error::Seal`]), or
    /// [`Error::Config`] when `sealing.rlp` cannot be written.
    pub fn seal(&mut self, header: &Header) -> Result<Header> {
        let header = self.pending.take_or_record(header)?;
        let number = header.number;
        let header = Header {
            extra_data: Bytes::new(),
            ..header
        };
        self.sealer
            .raft(&header, self.raft_id, self.key.signer(), &self.members)
            .map_err(|source| Error::Seal { number, source })
    }

    fn produce(&mut self, header: &Header) -> Result<Header> {
        let sealed = self.seal(header)?;
        let imported = self.chain.import(&sealed.encode(), &EMPTY_BODY_RLP)?;
        tracing::info!(
            target: "cachet::sealer",
            number = sealed.number,
            hash = %sealed.hash_slow(),
            ?imported,
            "minted block"
        );
        Ok(sealed)
    }
}
