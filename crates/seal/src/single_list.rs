//! What IBFT 2.0 and QBFT share beyond the extraData codec — the commit digest, the block hash,
//! committed seals, recovery and verification — parameterised by [`Flavour`]. The `ibft2` and
//! `qbft` modules are facades that name their flavour.

use alloy_primitives::{Address, B64, B256, Bytes, keccak256};

use cachet_primitives::Engine;

use crate::bft::{self, BftExtra, BftFormat, BftSeals, Flavour, Part, Threshold};
use crate::error::{Error, Result};
use crate::header::Header;

impl Flavour {
    /// The engine name in errors.
    pub(crate) const fn engine(self) -> &'static str {
        match self {
            Self::Ibft2 => "ibft2",
            Self::Qbft => "qbft",
        }
    }

    fn extra_of(self, header: &Header) -> Result<BftExtra> {
        Ok(BftExtra::decode_with(&header.extra_data, self)?)
    }

    fn digest(self, header: &Header, extra: &BftExtra, part: Part) -> B256 {
        keccak256(header.encode_with_extra(&extra.encode_with(self, part)))
    }

    /// keccak of the header with the extraData committers sign.
    pub(crate) fn commit_digest(self, header: &Header) -> Result<B256> {
        let extra = self.extra_of(header)?;
        Ok(self.digest(header, &extra, Part::ForCommitSeal))
    }

    /// keccak of the header with the extraData the block hash covers. An IBFT 2.0 genesis block
    /// hashes its extraData verbatim (a QBFT genesis extraData already has that form).
    pub(crate) fn block_hash(self, header: &Header) -> Result<B256> {
        if self == Self::Ibft2 && header.number == 0 {
            return Ok(header.hash_slow());
        }
        let extra = self.extra_of(header)?;
        Ok(self.digest(header, &extra, Part::ForBlockHash))
    }

    /// `header` with `seals` as its committed seals.
    pub(crate) fn with_committed_seals(
        self,
        header: &Header,
        seals: &[[u8; 65]],
    ) -> Result<Header> {
        let mut extra = self.extra_of(header)?;
        extra.committed_seals = seals.to_vec();
        Ok(Header {
            extra_data: Bytes::from(extra.encode_with(self, Part::Full)),
            ..header.clone()
        })
    }

    /// Proposer (coinbase) and committers.
    pub(crate) fn recover(self, header: &Header) -> Result<BftSeals> {
        let extra = self.extra_of(header)?;
        Ok(BftSeals {
            block_hash: self.block_hash(header)?,
            proposer: header.beneficiary,
            committers: self.committers_of(header, &extra)?,
        })
    }

    /// The committers only, in seal order.
    pub(crate) fn recover_committers(self, header: &Header) -> Result<Vec<Address>> {
        let extra = self.extra_of(header)?;
        self.committers_of(header, &extra)
    }

    fn committers_of(self, header: &Header, extra: &BftExtra) -> Result<Vec<Address>> {
        let digest = self.digest(header, extra, Part::ForCommitSeal);
        bft::recover_committers(&digest, &extra.committed_seals)
    }

    /// Header rules (`IstanbulDigest`, difficulty 1; IBFT 2.0 also empty ommers and nonce 0),
    /// the seals, and with `validators` that the proposer is one and the committers meet
    /// `threshold`.
    pub(crate) fn verify(
        self,
        header: &Header,
        validators: Option<&[Address]>,
        threshold: Threshold,
    ) -> Result<BftSeals> {
        let engine = self.engine();
        let ibft2 = self == Self::Ibft2;
        bft::verify_common_fields(engine, header, ibft2)?;
        if ibft2 && header.nonce != B64::ZERO {
            return Err(Error::HeaderRule {
                engine,
                rule: format!("nonce must be zero, found {}", header.nonce),
            });
        }
        let seals = self.recover(header)?;
        if let Some(vals) = validators {
            if !vals.contains(&seals.proposer) {
                return Err(Error::Unauthorized {
                    engine,
                    signer: seals.proposer,
                });
            }
            bft::check_quorum(engine, &seals.committers, vals, threshold)?;
        }
        Ok(seals)
    }
}

/// IBFT 2.0 and QBFT as [`BftFormat`]s: one implementation over the shared codec.
impl BftFormat for Flavour {
    fn engine(&self) -> Engine {
        match self {
            Self::Ibft2 => Engine::Ibft2,
            Self::Qbft => Engine::Qbft,
        }
    }

    fn block_hash(&self, header: &Header) -> Result<B256> {
        Self::block_hash(*self, header)
    }

    fn recover(&self, header: &Header) -> Result<BftSeals> {
        Self::recover(*self, header)
    }

    fn verify(
        &self,
        header: &Header,
        validators: Option<&[Address]>,
        threshold: Threshold,
    ) -> Result<BftSeals> {
        Self::verify(*self, header, validators, threshold)
    }

    fn validators(&self, extra: &[u8]) -> Result<Vec<Address>> {
        Ok(BftExtra::decode_with(extra, *self)?.validators)
    }

    fn has_vote(&self, header: &Header) -> Result<bool> {
        Ok(self.extra_of(header)?.vote.is_some())
    }

    fn unsealed_extra(&self, validators: &[Address], round: u32) -> Vec<u8> {
        BftExtra {
            vanity: vec![0u8; 32],
            validators: validators.to_vec(),
            vote: None,
            round,
            committed_seals: Vec::new(),
        }
        .encode_with(*self, Part::Full)
    }
}
