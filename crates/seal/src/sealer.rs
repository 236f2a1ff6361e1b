//! [`Sealer`]: every engine's signing, through the journal.

use std::path::Path;

use alloy_primitives::{Address, Bytes};
use alloy_signer::SignerSync;
use cachet_primitives::Engine;

use crate::bft::{BftExtra, Flavour, Part};
use crate::crypto;
use crate::error::Result;
use crate::header::Header;
use crate::journal::{JournalKey, SealJournal};
use crate::members::RaftMembers;
use crate::{clique, ibft, raft};

/// Signs blocks only after the journal has durably recorded them.
///
/// The journal hash identifies the block independently of its seals: the clique seal hash,
/// the IBFT 1.0 proposer sigHash, the IBFT 2.0/QBFT block hash (round and seals excluded) and
/// the raft signing digest. So a proposer may commit its own proposal, and re-signing the same
/// block is allowed, while a different block at the same height (clique, raft) or height and
/// round (BFT) is refused with [`crate::Error::Equivocation`].
#[derive(Debug)]
pub struct Sealer {
    journal: SealJournal,
}

impl Sealer {
    /// Opens the journal in `datadir`.
    ///
    /// # Errors
    /// As [`SealJournal::open`].
    pub fn open(datadir: &Path) -> Result<Self> {
        Ok(Self {
            journal: SealJournal::open(datadir)?,
        })
    }

    /// The journal.
    pub fn journal(&self) -> &SealJournal {
        &self.journal
    }

    /// True when the journal records sealing `header` as `engine` (the hash it would
    /// record for it, at its height and, for IBFT 2.0/QBFT, its extraData round): a block
    /// signed by our key that this datadir did not seal is a doppelganger's.
    ///
    /// # Errors
    /// Undecodable extraData (the journal hash cannot be computed).
    pub fn sealed(&self, engine: Engine, header: &Header) -> Result<bool> {
        let (hash, round) = match engine {
            Engine::Clique => (clique::seal_hash(header)?, 0),
            Engine::Ibft => (ibft::proposer_sig_hash(header)?, 0),
            Engine::Ibft2 | Engine::Qbft => {
                let Some(flavour) = Flavour::of(engine) else {
                    return Ok(false);
                };
                let round = BftExtra::decode_with(&header.extra_data, flavour)?.round;
                (flavour.block_hash(header)?, round)
            }
            Engine::Raft => (raft::signing_hash(header), 0),
            Engine::Ethash => return Ok(false),
        };
        Ok(self.journal.holds(engine, header.number, round, &hash))
    }

    /// Clique: seals `header` (§1.2).
    ///
    /// # Errors
    /// Equivocation, journal I/O, or as [`clique::sign_header`].
    pub fn clique(&mut self, header: &Header, signer: &dyn SignerSync) -> Result<Header> {
        let hash = clique::seal_hash(header)?;
        self.journal
            .record(JournalKey::new(Engine::Clique, header.number, 0), hash)?;
        clique::sign_header(header, signer)
    }

    /// IBFT 1.0: the proposer seal for `header` proposed in `round` (§2.1).
    ///
    /// # Errors
    /// Equivocation, journal I/O, or as [`ibft::sign_proposal`].
    pub fn ibft_propose(
        &mut self,
        header: &Header,
        round: u32,
        signer: &dyn SignerSync,
    ) -> Result<Header> {
        let hash = ibft::proposer_sig_hash(header)?;
        self.journal
            .record(JournalKey::new(Engine::Ibft, header.number, round), hash)?;
        ibft::sign_proposal(header, signer)
    }

    /// IBFT 1.0: this validator's committed seal for a sealed proposal in `round`.
    ///
    /// # Errors
    /// Equivocation, journal I/O, or as [`ibft::sign_commit`].
    pub fn ibft_commit(
        &mut self,
        header: &Header,
        round: u32,
        signer: &dyn SignerSync,
    ) -> Result<[u8; 65]> {
        let hash = ibft::proposer_sig_hash(header)?;
        self.journal
            .record(JournalKey::new(Engine::Ibft, header.number, round), hash)?;
        ibft::sign_commit(header, signer)
    }

    /// IBFT 2.0 / QBFT: this validator's committed seal; the round is the one in extraData.
    ///
    /// # Errors
    /// Equivocation, journal I/O, undecodable extraData, or [`crate::Error::Signer`].
    pub fn bft_commit(
        &mut self,
        engine: Engine,
        header: &Header,
        signer: &dyn SignerSync,
    ) -> Result<[u8; 65]> {
        let flavour = Flavour::of(engine).ok_or(crate::Error::Internal(
            "bft_commit called for an engine without single-list extraData",
        ))?;
        let round = BftExtra::decode_with(&header.extra_data, flavour)?.round;
        let hash = flavour.block_hash(header)?;
        self.journal
            .record(JournalKey::new(engine, header.number, round), hash)?;
        crypto::sign(signer, &flavour.commit_digest(header)?)
    }

    /// IBFT 2.0 / QBFT proposal: sets coinbase to `proposer` and the extraData round to `round`,
    /// then adds this validator's committed seal. Returns the header.
    ///
    /// # Errors
    /// As [`Self::bft_commit`].
    pub fn bft_propose(
        &mut self,
        engine: Engine,
        header: &Header,
        round: u32,
        proposer: Address,
        signer: &dyn SignerSync,
    ) -> Result<Header> {
        let flavour = Flavour::of(engine).ok_or(crate::Error::Internal(
            "bft_propose called for an engine without single-list extraData",
        ))?;
        let mut extra = BftExtra::decode_with(&header.extra_data, flavour)?;
        extra.round = round;
        extra.committed_seals.clear();
        let proposal = Header {
            beneficiary: proposer,
            extra_data: Bytes::from(extra.encode_with(flavour, Part::Full)),
            ..header.clone()
        };
        let seal = self.bft_commit(engine, &proposal, signer)?;
        flavour.with_committed_seals(&proposal, &[seal])
    }

    /// Raft: signs `header` as minter `raft_id`, verified against `members` before it is returned.
    ///
    /// # Errors
    /// Equivocation, journal I/O, or as [`raft::sign_block`].
    pub fn raft(
        &mut self,
        header: &Header,
        raft_id: u16,
        signer: &dyn SignerSync,
        members: &RaftMembers,
    ) -> Result<Header> {
        let hash = raft::signing_hash(header);
        self.journal
            .record(JournalKey::new(Engine::Raft, header.number, 0), hash)?;
        raft::sign_block(header, raft_id, signer, members)
    }
}
