//! Clique (EIP-225): extraData codec, seal hash, sealing, recovery and header rules
//! (`seal-formats.md` §1).

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B64, B256, Bytes, U256, keccak256};
use alloy_signer::SignerSync;

use crate::crypto::{self, seal_array};
use crate::error::{DecodeError, Error, Result};
use crate::header::{EMPTY_OMMERS_HASH, Header};

/// Fixed vanity prefix length.
pub const EXTRA_VANITY: usize = 32;
/// Seal suffix length (`r ‖ s ‖ v`).
pub const EXTRA_SEAL: usize = 65;
/// Difficulty of an in-turn block.
pub const DIFF_IN_TURN: u64 = 2;
/// Difficulty of an out-of-turn block.
pub const DIFF_NO_TURN: u64 = 1;
/// Nonce of an "authorize coinbase" vote.
pub const NONCE_AUTH: B64 = B64::new([0xff; 8]);
/// Nonce of a "drop coinbase" vote (and of no vote).
pub const NONCE_DROP: B64 = B64::ZERO;
/// Epoch length geth uses when the configured value is 0.
pub const DEFAULT_EPOCH: u64 = 30_000;

const ENGINE: &str = "clique";

/// Decoded clique extraData: `vanity(32) ‖ signers(N×20, checkpoints only) ‖ seal(65)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliqueExtra {
    /// The 32-byte vanity.
    pub vanity: [u8; 32],
    /// The signer list (checkpoint blocks only), in the order found.
    pub signers: Vec<Address>,
    /// The seal; 65 zero bytes when unsealed.
    pub seal: [u8; 65],
}

impl CliqueExtra {
    /// Decodes clique extraData.
    ///
    /// # Errors
    /// [`DecodeError::ExtraTooShort`] below 97 bytes; [`DecodeError::SignerSectionLength`] when the
    /// middle is not a multiple of 20 bytes.
    pub fn decode(extra: &[u8]) -> Result<Self, DecodeError> {
        let short = || DecodeError::ExtraTooShort {
            engine: ENGINE,
            min: EXTRA_VANITY + EXTRA_SEAL,
            found: extra.len(),
        };
        let (vanity, rest) = extra.split_at_checked(EXTRA_VANITY).ok_or_else(short)?;
        let mid_len = rest.len().checked_sub(EXTRA_SEAL).ok_or_else(short)?;
        let (mid, seal) = rest.split_at_checked(mid_len).ok_or_else(short)?;
        if mid.len() % 20 != 0 {
            return Err(DecodeError::SignerSectionLength { found: mid.len() });
        }
        Ok(Self {
            vanity: vanity.try_into().map_err(|_| short())?,
            signers: mid.chunks_exact(20).map(Address::from_slice).collect(),
            seal: seal_array(seal, "clique seal")?,
        })
    }

    /// Encodes the extraData.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(EXTRA_VANITY + 20 * self.signers.len() + EXTRA_SEAL);
        out.extend_from_slice(&self.vanity);
        for s in &self.signers {
            out.extend_from_slice(s.as_slice());
        }
        out.extend_from_slice(&self.seal);
        out
    }
}

/// Refuses headers with fields clique does not support (withdrawals, blob gas, beacon root, slot).
///
/// # Errors
/// [`Error::CliqueUnsupportedField`].
pub fn check_supported_fields(header: &Header) -> Result<()> {
    let field = if header.withdrawals_root.is_some() {
        "withdrawalsRoot"
    } else if header.blob_gas_used.is_some() {
        "blobGasUsed"
    } else if header.excess_blob_gas.is_some() {
        "excessBlobGas"
    } else if header.parent_beacon_block_root.is_some() {
        "parentBeaconBlockRoot"
    } else if header.requests_hash.is_some() || header.block_access_list_hash.is_some() {
        "requestsHash"
    } else if header.slot_number.is_some() {
        "slotNumber"
    } else {
        return Ok(());
    };
    Err(Error::CliqueUnsupportedField { field })
}

/// The RLP that [`seal_hash`] hashes.
///
/// # Errors
/// As [`seal_hash`].
pub fn seal_rlp(header: &Header) -> Result<Vec<u8>> {
    check_supported_fields(header)?;
    let extra = &header.extra_data;
    let stripped = extra
        .len()
        .checked_sub(EXTRA_SEAL)
        .filter(|l| *l >= EXTRA_VANITY)
        .and_then(|l| extra.get(..l))
        .ok_or(DecodeError::ExtraTooShort {
            engine: ENGINE,
            min: EXTRA_VANITY + EXTRA_SEAL,
            found: extra.len(),
        })?;
    Ok(crate::rlp::list(&header.payload(stripped, 1)))
}

/// The seal hash: keccak of the header RLP with the last 65 bytes of extraData removed and
/// baseFee included when set (§1.2).
///
/// # Errors
/// Post-London fields ([`Error::CliqueUnsupportedField`]) or extraData shorter than 97 bytes.
pub fn seal_hash(header: &Header) -> Result<B256> {
    seal_rlp(header).map(keccak256)
}

/// Seals `header` (whose extraData already has the 97+ byte layout) and returns the sealed header.
/// Signs [`seal_hash`] directly.
///
/// # Errors
/// As [`seal_hash`], or [`Error::Signer`].
pub fn sign_header(header: &Header, signer: &dyn SignerSync) -> Result<Header> {
    let digest = seal_hash(header)?;
    let sig = crypto::sign(signer, &digest)?;
    Ok(with_seal(header, &sig))
}

/// Replaces the last 65 bytes of extraData with `seal` (extraData must be at least 65 bytes).
pub(crate) fn with_seal(header: &Header, seal: &[u8; 65]) -> Header {
    let mut extra = header.extra_data.to_vec();
    let keep = extra.len().saturating_sub(EXTRA_SEAL);
    extra.truncate(keep);
    extra.extend_from_slice(seal);
    Header {
        extra_data: Bytes::from(extra),
        ..header.clone()
    }
}

/// Recovers the address that sealed `header`.
///
/// # Errors
/// [`Error::Unsealed`] for an all-zero seal, else as [`seal_hash`] and [`crypto::recover_address`].
pub fn recover_signer(header: &Header) -> Result<Address> {
    let extra = CliqueExtra::decode(&header.extra_data)?;
    if extra.seal == [0; 65] {
        return Err(Error::Unsealed {
            what: "clique seal",
        });
    }
    crypto::recover_address(&seal_hash(header)?, &extra.seal, "clique seal")
}

fn rule(msg: String) -> Error {
    Error::HeaderRule {
        engine: ENGINE,
        rule: msg,
    }
}

/// Checks the header rules that need no chain state (§1.3): supported fields, zero mixHash,
/// empty ommers, a valid vote nonce, the extraData layout, and checkpoint constraints.
///
/// # Errors
/// [`Error::HeaderRule`] naming the rule.
pub fn verify_header_fields(header: &Header, epoch: u64) -> Result<CliqueExtra> {
    check_supported_fields(header)?;
    let epoch = if epoch == 0 { DEFAULT_EPOCH } else { epoch };
    let extra = CliqueExtra::decode(&header.extra_data)?;
    let checkpoint = header.number.is_multiple_of(epoch);
    if header.mix_hash != B256::ZERO {
        return Err(rule(format!(
            "mixHash must be zero, found {}",
            header.mix_hash
        )));
    }
    if header.ommers_hash != EMPTY_OMMERS_HASH {
        return Err(rule(format!(
            "sha3Uncles must be the empty-list hash, found {}",
            header.ommers_hash
        )));
    }
    if header.nonce != NONCE_AUTH && header.nonce != NONCE_DROP {
        return Err(rule(format!(
            "nonce {} is not a vote (0x00…00 or 0xff…ff)",
            header.nonce
        )));
    }
    if checkpoint {
        if header.beneficiary != Address::ZERO || header.nonce != NONCE_DROP {
            return Err(rule(
                "checkpoint block must have zero coinbase and nonce".into(),
            ));
        }
    } else if !extra.signers.is_empty() {
        return Err(rule(format!(
            "non-checkpoint block {} lists signers",
            header.number
        )));
    }
    if header.number > 0
        && header.difficulty != U256::from(DIFF_IN_TURN)
        && header.difficulty != U256::from(DIFF_NO_TURN)
    {
        return Err(rule(format!(
            "difficulty must be 1 or 2, found {}",
            header.difficulty
        )));
    }
    Ok(extra)
}

/// Clique voting state at a block: authorised signers, recent signers, and open votes
/// (geth `snapshot.go`, §1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Epoch length (0 means [`DEFAULT_EPOCH`]).
    pub epoch: u64,
    /// Number of the last applied block.
    pub number: u64,
    /// Authorised signers (byte-sorted).
    pub signers: BTreeSet<Address>,
    /// Recent signers by block number.
    pub recents: BTreeMap<u64, Address>,
    /// Open votes: (signer, target) → authorize.
    pub votes: BTreeMap<(Address, Address), bool>,
    /// Tally per target: (authorize, count).
    pub tally: BTreeMap<Address, (bool, usize)>,
}

impl Snapshot {
    /// A snapshot from a checkpoint (e.g. genesis) header's signer list.
    ///
    /// # Errors
    /// When extraData is not clique extraData.
    pub fn from_checkpoint(header: &Header, epoch: u64) -> Result<Self> {
        let extra = CliqueExtra::decode(&header.extra_data)?;
        Ok(Self {
            epoch: if epoch == 0 { DEFAULT_EPOCH } else { epoch },
            number: header.number,
            signers: extra.signers.into_iter().collect(),
            recents: BTreeMap::new(),
            votes: BTreeMap::new(),
            tally: BTreeMap::new(),
        })
    }

    /// True when `signer` is in turn at `number`.
    pub fn in_turn(&self, number: u64, signer: &Address) -> bool {
        let Some(offset) = self.signers.iter().position(|s| s == signer) else {
            return false;
        };
        let n = self.signers.len() as u64;
        n != 0 && number % n == offset as u64
    }

    /// The difficulty `signer` must use at `number`.
    pub fn difficulty(&self, number: u64, signer: &Address) -> U256 {
        U256::from(if self.in_turn(number, signer) {
            DIFF_IN_TURN
        } else {
            DIFF_NO_TURN
        })
    }

    /// True when `signer` sealed one of the last `floor(N/2)` blocks before `number`, so it may
    /// not seal `number`.
    pub fn recently_signed(&self, number: u64, signer: &Address) -> bool {
        let limit = (self.signers.len() / 2 + 1) as u64;
        self.recents
            .iter()
            .any(|(n, s)| s == signer && number < n.saturating_add(limit))
    }

    /// Verifies `header` (the next block) against this snapshot and applies its vote.
    ///
    /// # Errors
    /// Any broken rule: fields, checkpoint signer list, unauthorised or recent signer, wrong
    /// difficulty.
    pub fn apply(&mut self, header: &Header) -> Result<Address> {
        let extra = verify_header_fields(header, self.epoch)?;
        let number = header.number;
        if number != self.number.saturating_add(1) {
            return Err(rule(format!(
                "expected block {}, got {number}",
                self.number.saturating_add(1)
            )));
        }
        let checkpoint = number.is_multiple_of(self.epoch);
        if checkpoint {
            self.votes.clear();
            self.tally.clear();
            let mine: Vec<Address> = self.signers.iter().copied().collect();
            if extra.signers != mine {
                return Err(rule(format!(
                    "checkpoint {number} signer list does not match the snapshot"
                )));
            }
        }
        let limit = (self.signers.len() / 2 + 1) as u64;
        if number >= limit {
            self.recents.remove(&(number - limit));
        }
        let signer = recover_signer(header)?;
        if !self.signers.contains(&signer) {
            return Err(Error::Unauthorized {
                engine: ENGINE,
                signer,
            });
        }
        if self.recents.values().any(|s| *s == signer) {
            return Err(rule(format!(
                "{signer} signed recently and may not seal block {number}"
            )));
        }
        if header.difficulty != self.difficulty(number, &signer) {
            return Err(rule(format!(
                "difficulty {} wrong for {signer} at {number}",
                header.difficulty
            )));
        }
        self.recents.insert(number, signer);
        let target = header.beneficiary;
        if let Some(prev) = self.votes.remove(&(signer, target)) {
            self.uncast(target, prev);
        }
        let authorize = header.nonce == NONCE_AUTH;
        if self.cast(target, authorize) {
            self.votes.insert((signer, target), authorize);
        }
        if let Some(&(auth, count)) = self.tally.get(&target)
            && count > self.signers.len() / 2
        {
            if auth {
                self.signers.insert(target);
            } else {
                self.signers.remove(&target);
                let limit = (self.signers.len() / 2 + 1) as u64;
                if number >= limit {
                    self.recents.remove(&(number - limit));
                }
                let cast_by_dropped: Vec<_> = self
                    .votes
                    .iter()
                    .filter(|((s, _), _)| *s == target)
                    .map(|(k, v)| (*k, *v))
                    .collect();
                for ((s, t), a) in cast_by_dropped {
                    self.votes.remove(&(s, t));
                    self.uncast(t, a);
                }
            }
            self.votes.retain(|(_, t), _| *t != target);
            self.tally.remove(&target);
        }
        self.number = number;
        Ok(signer)
    }

    fn cast(&mut self, target: Address, authorize: bool) -> bool {
        if self.signers.contains(&target) == authorize {
            return false;
        }
        let entry = self.tally.entry(target).or_insert((authorize, 0));
        entry.1 += 1;
        true
    }

    fn uncast(&mut self, target: Address, authorize: bool) {
        if let Some(entry) = self.tally.get_mut(&target)
            && entry.0 == authorize
        {
            entry.1 = entry.1.saturating_sub(1);
            if entry.1 == 0 {
                self.tally.remove(&target);
            }
        }
    }
}
