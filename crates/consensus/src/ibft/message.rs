//! The four legacy IBFT messages on `istanbul/100` code 0x11 (`docs/dev/bft-wire.md` §7), as
//! `GoQuorum`'s `istanbul` engine sends them:
//!
//! ```text
//! p2p payload  = RLP(bytes(wrapper))
//! wrapper      = [code, msg, address, signature, committedSeal]     code 0 PRE-PREPARE, 1 PREPARE,
//!                                                                   2 COMMIT, 3 ROUND-CHANGE
//! msg          = RLP([[round, seq], block])                         PRE-PREPARE
//!              | RLP([[round, seq], digest])                        PREPARE, COMMIT, ROUND-CHANGE
//! signature    = Sign(keccak(RLP(wrapper with signature = 0x80)))
//! committedSeal= COMMIT: Sign(keccak(digest ‖ 0x02)); otherwise empty
//! ```
//!
//! Decoding is strict (canonical RLP through [`cachet_primitives::rlp::Reader`], exact lengths,
//! no trailing bytes, bounded size) and never panics; a decoded message re-encodes to the same
//! bytes. The signer recovered from the signature must be the `address` field.

use alloy_primitives::{Address, B256, keccak256};
use cachet_primitives::DecodeError;
use cachet_primitives::rlp::{self, Reader};

use crate::qbft::message::{Block, MAX_MESSAGE_BYTES, recover, round_from};
use crate::qbft::{SignError, Signer};

/// The p2p message code of every IBFT message (relative to `istanbul/100`).
pub const P2P_CODE: u8 = 0x11;

/// The message codes inside the wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// PRE-PREPARE.
    PrePrepare = 0,
    /// PREPARE.
    Prepare = 1,
    /// COMMIT.
    Commit = 2,
    /// ROUND-CHANGE.
    RoundChange = 3,
}

impl Code {
    /// The code of a wrapper's code field.
    pub const fn from_u64(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::PrePrepare),
            1 => Some(Self::Prepare),
            2 => Some(Self::Commit),
            3 => Some(Self::RoundChange),
            _ => None,
        }
    }

    /// A name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PrePrepare => "PRE-PREPARE",
            Self::Prepare => "PREPARE",
            Self::Commit => "COMMIT",
            Self::RoundChange => "ROUND-CHANGE",
        }
    }
}

/// An IBFT message that is not acceptable: bad bytes, a bad signature or an inconsistent part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The bytes are not valid RLP of the expected shape.
    #[error("ibft message: {0}")]
    Decode(#[from] DecodeError),
    /// The p2p code is not 0x11.
    #[error("ibft message: p2p code {0:#04x}, IBFT uses 0x11")]
    UnknownP2pCode(u8),
    /// The wrapper's code is not 0–3.
    #[error("ibft message: unknown code {0} (IBFT uses 0-3)")]
    UnknownCode(u64),
    /// The message exceeds [`MAX_MESSAGE_BYTES`].
    #[error("ibft message: {0} bytes, more than the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// A round at or above 2^31.
    #[error("ibft {what}: round {round} is above the wire limit 2^31-1")]
    RoundTooLarge {
        /// Which round.
        what: &'static str,
        /// The round found.
        round: u64,
    },
    /// The committed seal is present on a message other than COMMIT, or missing on a COMMIT, or
    /// a ROUND-CHANGE carries a digest other than zero.
    #[error("ibft {0}")]
    Inconsistent(&'static str),
    /// The proposed block is not an IBFT block `[header, txs, uncles]`.
    #[error("ibft proposed block: {0}")]
    Block(String),
    /// The signature does not recover, its `s` is high, or its signer is not `address`.
    #[error("ibft {what}: bad signature ({why})")]
    BadSignature {
        /// Which signature.
        what: &'static str,
        /// Why.
        why: String,
    },
}

impl From<crate::qbft::MessageError> for MessageError {
    fn from(e: crate::qbft::MessageError) -> Self {
        match e {
            crate::qbft::MessageError::Decode(d) => Self::Decode(d),
            crate::qbft::MessageError::RoundTooLarge { what, round } => {
                Self::RoundTooLarge { what, round }
            }
            crate::qbft::MessageError::BadSignature { what, why } => Self::BadSignature {
                what,
                why: why.into(),
            },
            other => Self::Block(other.to_string()),
        }
    }
}

/// What a message says.
// Messages are decoded, handled and dropped, or kept one per sender and round: boxing the block
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// PRE-PREPARE: the proposed block (sealed by its proposer).
    PrePrepare(Block),
    /// PREPARE for a proposal digest (the IBFT block hash).
    Prepare(B256),
    /// COMMIT for a digest, with the committed seal `Sign(keccak(digest ‖ 0x02))`.
    Commit {
        /// The proposal digest.
        digest: B256,
        /// The committed seal.
        committed_seal: [u8; 65],
    },
    /// ROUND-CHANGE (its digest is zero on the wire).
    RoundChange,
}

impl Content {
    /// The wrapper code.
    pub const fn code(&self) -> Code {
        match self {
            Self::PrePrepare(_) => Code::PrePrepare,
            Self::Prepare(_) => Code::Prepare,
            Self::Commit { .. } => Code::Commit,
            Self::RoundChange => Code::RoundChange,
        }
    }

    /// The digest the message is about: the proposal's, or zero for a ROUND-CHANGE.
    pub fn digest(&self) -> B256 {
        match self {
            Self::PrePrepare(b) => b.digest(),
            Self::Prepare(d) | Self::Commit { digest: d, .. } => *d,
            Self::RoundChange => B256::ZERO,
        }
    }
}

/// One IBFT message: view, content, author and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Height.
    pub sequence: u64,
    /// Round.
    pub round: u32,
    /// What it says.
    pub content: Content,
    /// The `address` field (the author it claims).
    pub address: Address,
    /// `r ‖ s ‖ v` over [`Message::signing_hash`].
    pub signature: [u8; 65],
}

/// The digest a committed seal signs: `keccak(blockHash ‖ 0x02)`.
pub fn committed_seal_digest(digest: &B256) -> B256 {
    cachet_seal::ibft::commit_digest(digest)
}

impl Message {
    /// Signs `content` at (sequence, round) as `signer`. A COMMIT's committed seal is the
    /// caller's (it goes through the journal like every signature that commits to a value).
    ///
    /// # Errors
    /// The signer's refusal.
    pub fn sign(
        sequence: u64,
        round: u32,
        content: Content,
        signer: &dyn Signer,
    ) -> Result<Self, SignError> {
        let mut msg = Self {
            sequence,
            round,
            content,
            address: signer.address(),
            signature: [0; 65],
        };
        msg.signature = signer.sign(&msg.signing_hash())?;
        Ok(msg)
    }

    /// The wrapper code.
    pub const fn code(&self) -> Code {
        self.content.code()
    }

    /// (height, round).
    pub const fn view(&self) -> (u64, u32) {
        (self.sequence, self.round)
    }

    /// The inner `msg` bytes: `RLP([[round, seq], block | digest])`.
    pub fn inner(&self) -> Vec<u8> {
        let mut view = Vec::with_capacity(16);
        rlp::put_u64(&mut view, u64::from(self.round));
        rlp::put_u64(&mut view, self.sequence);
        let mut p = Vec::new();
        rlp::put_list(&mut p, &view);
        match &self.content {
            Content::PrePrepare(b) => p.extend_from_slice(b.rlp()),
            c => rlp::put_bytes(&mut p, c.digest().as_slice()),
        }
        rlp::list(&p)
    }

    fn wrapper(&self, signature: &[u8]) -> Vec<u8> {
        let inner = self.inner();
        let mut p = Vec::with_capacity(inner.len() + 170);
        rlp::put_u64(&mut p, self.code() as u64);
        rlp::put_bytes(&mut p, &inner);
        rlp::put_bytes(&mut p, self.address.as_slice());
        rlp::put_bytes(&mut p, signature);
        match &self.content {
            Content::Commit { committed_seal, .. } => rlp::put_bytes(&mut p, committed_seal),
            _ => rlp::put_bytes(&mut p, &[]),
        }
        rlp::list(&p)
    }

    /// The wrapper `RLP([code, msg, address, signature, committedSeal])`.
    pub fn wrapper_rlp(&self) -> Vec<u8> {
        self.wrapper(&self.signature)
    }

    /// `keccak(RLP([code, msg, address, 0x80, committedSeal]))`, what the signature covers.
    pub fn signing_hash(&self) -> B256 {
        keccak256(self.wrapper(&[]))
    }

    /// The p2p payload of code 0x11: the wrapper as an RLP byte string.
    pub fn encode(&self) -> Vec<u8> {
        let w = self.wrapper_rlp();
        let mut out = Vec::with_capacity(w.len() + 5);
        rlp::put_bytes(&mut out, &w);
        out
    }

    /// Decodes the payload of an `istanbul/100` message with p2p code `code` (0x11).
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong; never panics.
    pub fn decode(code: u8, bytes: &[u8]) -> Result<Self, MessageError> {
        if code != P2P_CODE {
            return Err(MessageError::UnknownP2pCode(code));
        }
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let mut outer = Reader::new(bytes);
        let wrapper = outer.bytes("ibft p2p payload")?;
        outer.finish("ibft p2p payload")?;
        Self::decode_wrapper(wrapper)
    }

    /// Decodes the wrapper `RLP([code, msg, address, signature, committedSeal])`.
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong; never panics.
    pub fn decode_wrapper(bytes: &[u8]) -> Result<Self, MessageError> {
        let mut w = rlp::single_list(bytes, "ibft message")?;
        let raw_code = w.u64("ibft message code")?;
        let code = Code::from_u64(raw_code).ok_or(MessageError::UnknownCode(raw_code))?;
        let inner = w.bytes("ibft message msg")?;
        let address = Address::from(w.array::<20>("ibft message address")?);
        let signature = w.array::<65>("ibft message signature")?;
        let seal = w.bytes("ibft message committed seal")?;
        w.finish("ibft message")?;

        let mut m = rlp::single_list(inner, "ibft message msg")?;
        let mut view = m.list("ibft view")?;
        let round = round_from(&mut view, "IBFT view round")?;
        let sequence = view.u64("ibft view sequence")?;
        view.finish("ibft view")?;
        let content = if code == Code::PrePrepare {
            let block = Block::decode_ibft(m.raw("ibft PRE-PREPARE block")?)?;
            Content::PrePrepare(block)
        } else {
            let digest = B256::from(m.array::<32>("ibft subject digest")?);
            match code {
                Code::Prepare => Content::Prepare(digest),
                Code::Commit => Content::Commit {
                    digest,
                    committed_seal: <[u8; 65]>::try_from(seal).map_err(|_| {
                        MessageError::Inconsistent("COMMIT without a 65-byte committed seal")
                    })?,
                },
                _ if !digest.is_zero() => {
                    return Err(MessageError::Inconsistent(
                        "ROUND-CHANGE with a digest (GoQuorum sends zero)",
                    ));
                }
                _ => Content::RoundChange,
            }
        };
        m.finish("ibft message msg")?;
        if code != Code::Commit && !seal.is_empty() {
            return Err(MessageError::Inconsistent(
                "committed seal on a message other than COMMIT",
            ));
        }
        Ok(Self {
            sequence,
            round,
            content,
            address,
            signature,
        })
    }

    /// The author: the signer recovered from the signature, which must be `address`.
    ///
    /// # Errors
    /// [`MessageError::BadSignature`] when it does not recover, `s` is high, or the signer is
    /// not `address` (`GoQuorum` `FromPayload`).
    pub fn author(&self) -> Result<Address, MessageError> {
        let what = self.code().name();
        let signer = recover(&self.signing_hash(), &self.signature, what)?;
        if signer != self.address {
            return Err(MessageError::BadSignature {
                what,
                why: format!("signed by {signer}, address field {}", self.address),
            });
        }
        Ok(signer)
    }

    /// The signer of a COMMIT's committed seal over its digest (`None` for other messages).
    ///
    /// # Errors
    /// [`MessageError::BadSignature`] when the seal does not recover.
    pub fn committed_seal_signer(&self) -> Result<Option<Address>, MessageError> {
        match &self.content {
            Content::Commit {
                digest,
                committed_seal,
            } => Ok(Some(recover(
                &committed_seal_digest(digest),
                committed_seal,
                "committed seal",
            )?)),
            _ => Ok(None),
        }
    }
}

/// Sorts `validators` into IBFT's proposer order: by their EIP-55 checksummed hex strings
/// (`GoQuorum` `ValidatorSortByString`; capitals sort before lower case, `bft-wire.md` §6).
pub fn sort_validators(validators: &mut [Address]) {
    validators.sort_by_cached_key(|a| a.to_checksum(None));
}
