//! The four QBFT messages on `istanbul/100` (`docs/dev/bft-wire.md` §2–§3), as `GoQuorum` sends
//! them and Besu before 26.1 (and with `--Xbft-legacy-protocol-encoding` after):
//!
//! ```text
//! PRE-PREPARE  0x12  [[[seq, round, block], sig], [[signedRoundChangePayload…], [signedPrepare…]]]
//! PREPARE      0x13  [[seq, round, digest], sig]
//! COMMIT       0x14  [[seq, round, digest, commitSeal], sig]
//! ROUND-CHANGE 0x15  [[[seq, round, [preparedRound, preparedDigest] | []], sig], block | [], [signedPrepare…]]
//! ```
//!
//! Every signature covers `keccak(RLP([code, payload]))`. Decoding is strict (canonical RLP
//! through [`cachet_primitives::rlp::Reader`], exact lengths, no trailing items, bounded sizes
//! and counts) and never panics; a decoded message re-encodes to the same bytes.

use alloy_primitives::{Address, B256, keccak256};
use cachet_primitives::rlp::{self, Reader};
use cachet_primitives::{DecodeError, Header};
use cachet_seal::qbft as seal;

use super::signer::{SignError, Signer};

/// `GoQuorum`'s cap on one p2p message (`protocolMaxMsgSize`, 10 MiB).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// Most entries in one justification list (round changes or prepares). A justification needs a
/// quorum of distinct validators; no deployed QBFT network comes near this many.
pub const MAX_JUSTIFICATION: usize = 1024;

/// Largest round the decoder accepts: Besu reads rounds as a signed 32-bit integer.
pub const MAX_WIRE_ROUND: u32 = i32::MAX as u32;

/// secp256k1 order / 2: Besu refuses signatures with a larger `s` (malleable twins).
const HALF_ORDER: B256 =
    alloy_primitives::b256!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

/// The message codes on `istanbul/100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// PRE-PREPARE (Besu: PROPOSAL).
    PrePrepare = 0x12,
    /// PREPARE.
    Prepare = 0x13,
    /// COMMIT.
    Commit = 0x14,
    /// ROUND-CHANGE.
    RoundChange = 0x15,
}

impl Code {
    /// The code of a p2p message id relative to the sub-protocol.
    pub const fn from_u8(code: u8) -> Option<Self> {
        match code {
            0x12 => Some(Self::PrePrepare),
            0x13 => Some(Self::Prepare),
            0x14 => Some(Self::Commit),
            0x15 => Some(Self::RoundChange),
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

/// A QBFT message that is not acceptable: bad bytes, a bad signature or an inconsistent part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The bytes are not valid RLP of the expected shape.
    #[error("qbft message: {0}")]
    Decode(#[from] DecodeError),
    /// The code is not one of 0x12–0x15.
    #[error("qbft message: unknown istanbul/100 code {0:#04x} (QBFT uses 0x12-0x15)")]
    UnknownCode(u8),
    /// The message exceeds [`MAX_MESSAGE_BYTES`].
    #[error("qbft message: {0} bytes, more than the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    /// A justification list is longer than [`MAX_JUSTIFICATION`].
    #[error("qbft {what}: {found} entries, more than {MAX_JUSTIFICATION}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Entries found.
        found: usize,
    },
    /// A round at or above 2^31.
    #[error("qbft {what}: round {round} is above the wire limit 2^31-1")]
    RoundTooLarge {
        /// Which round.
        what: &'static str,
        /// The round found.
        round: u64,
    },
    /// Besu ≥ 26.1's layout with a block-access-list slot (one more item).
    #[error(
        "qbft {0}: one item too many: this is Besu >= 26.1's block-access-list layout, which GoQuorum and Cachet refuse; start Besu with --Xbft-legacy-protocol-encoding"
    )]
    BesuBalLayout(&'static str),
    /// A ROUND-CHANGE's prepared block does not hash to its prepared digest, or one of the two is
    /// missing without the other.
    #[error("qbft ROUND-CHANGE: {0}")]
    PreparedMismatch(&'static str),
    /// The proposed block is not a QBFT block `[header, txs, uncles]`.
    #[error("qbft proposed block: {0}")]
    Block(String),
    /// A signature does not recover, or its `s` is in the upper half of the curve order.
    #[error("qbft {what}: bad signature ({why})")]
    BadSignature {
        /// Which signature.
        what: &'static str,
        /// Why.
        why: &'static str,
    },
}

pub(crate) fn round_from(r: &mut Reader<'_>, what: &'static str) -> Result<u32, MessageError> {
    let v = r.u64(what)?;
    u32::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_WIRE_ROUND)
        .ok_or(MessageError::RoundTooLarge { what, round: v })
}

/// A proposed (or prepared) block: `[header, transactions, uncles]` kept as received, with its
/// decoded header and digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    header: Header,
    rlp: Vec<u8>,
    digest: B256,
}

impl Block {
    /// Decodes a block RLP: exactly three items, a strict header with QBFT extraData, and two
    /// lists (their contents are execution's to check).
    ///
    /// # Errors
    /// [`MessageError`] naming the part that is wrong.
    pub fn decode(raw: &[u8]) -> Result<Self, MessageError> {
        let (header, _) = Self::split(raw)?;
        Self::with_header(header, raw.to_vec())
    }

    /// The strict header and the RLP of the transaction and uncle lists of a block RLP.
    fn split(raw: &[u8]) -> Result<(Header, &[u8]), MessageError> {
        let mut list = rlp::single_list(raw, "proposed block")?;
        let header_rlp = list.raw("proposed block header")?;
        let body = list.rest();
        list.list("proposed block transactions")?;
        list.list("proposed block uncles")?;
        list.finish("proposed block")?;
        Ok((Header::decode(header_rlp)?, body))
    }

    /// Decodes a legacy IBFT (`GoQuorum` `istanbul`) block RLP: as [`Block::decode`], but with
    /// IBFT extraData and the IBFT block hash as digest (`seal-formats.md` §2.1).
    ///
    /// # Errors
    /// [`MessageError`] naming the part that is wrong.
    pub fn decode_ibft(raw: &[u8]) -> Result<Self, MessageError> {
        let (header, _) = Self::split(raw)?;
        let digest = cachet_seal::ibft::block_hash(&header)
            .map_err(|e| MessageError::Block(e.to_string()))?;
        Ok(Self {
            header,
            rlp: raw.to_vec(),
            digest,
        })
    }

    /// An IBFT block from its header and the RLP of its transaction and uncle lists.
    ///
    /// # Errors
    /// [`MessageError::Block`] when extraData is not IBFT extraData.
    pub fn new_ibft(
        header: &Header,
        txs_rlp: &[u8],
        uncles_rlp: &[u8],
    ) -> Result<Self, MessageError> {
        let mut payload = header.encode();
        payload.extend_from_slice(txs_rlp);
        payload.extend_from_slice(uncles_rlp);
        Self::decode_ibft(&rlp::list(&payload))
    }

    /// This IBFT block with `header` in place of its header (same body).
    ///
    /// # Errors
    /// [`MessageError::Block`] when the new extraData is not IBFT extraData.
    pub fn with_ibft_header(&self, header: &Header) -> Result<Self, MessageError> {
        let (_, body) = Self::split(&self.rlp)?;
        let mut payload = header.encode();
        payload.extend_from_slice(body);
        Self::decode_ibft(&rlp::list(&payload))
    }

    /// A block from its header and the RLP of its transaction and uncle lists.
    ///
    /// # Errors
    /// [`MessageError::Block`] when extraData is not QBFT extraData.
    pub fn new(header: Header, txs_rlp: &[u8], uncles_rlp: &[u8]) -> Result<Self, MessageError> {
        let mut payload = header.encode();
        payload.extend_from_slice(txs_rlp);
        payload.extend_from_slice(uncles_rlp);
        let raw = rlp::list(&payload);
        Self::decode(&raw)
    }

    fn with_header(header: Header, rlp: Vec<u8>) -> Result<Self, MessageError> {
        let digest = digest(&header)?;
        Ok(Self {
            header,
            rlp,
            digest,
        })
    }

    /// The header.
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// The block RLP as received.
    pub fn rlp(&self) -> &[u8] {
        &self.rlp
    }

    /// The digest PREPAREs and COMMITs carry for this block (see [`digest`]).
    pub const fn digest(&self) -> B256 {
        self.digest
    }
}

/// The proposal digest: keccak of the header with extraData `[vanity, validators, vote, round as
/// in the block, []]` (`bft-wire.md` §4). For a proposal with round 0 in its extraData (what
/// `GoQuorum` and Cachet send) this is the block hash; for a Besu ≥ 24.12 proposal it is Besu's
/// digest.
///
/// # Errors
/// [`MessageError::Block`] when extraData is not QBFT extraData.
pub fn digest(header: &Header) -> Result<B256, MessageError> {
    seal::commit_digest(header).map_err(|e| MessageError::Block(e.to_string()))
}

/// What a signed payload is: its code and its RLP list.
pub trait Payload: Sized + Clone {
    /// The code the signature binds.
    const CODE: Code;
    /// The payload list, encoded.
    fn encode(&self) -> Vec<u8>;
    /// Decodes the payload from the reader positioned on its list.
    ///
    /// # Errors
    /// [`MessageError`] naming the field that is wrong.
    fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError>;
    /// The height.
    fn sequence(&self) -> u64;
    /// The round.
    fn round(&self) -> u32;
}

/// PREPARE's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepare {
    /// Height.
    pub sequence: u64,
    /// Round.
    pub round: u32,
    /// The proposal digest.
    pub digest: B256,
}

impl Payload for Prepare {
    const CODE: Code = Code::Prepare;

    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(48);
        rlp::put_u64(&mut p, self.sequence);
        rlp::put_u64(&mut p, u64::from(self.round));
        rlp::put_bytes(&mut p, self.digest.as_slice());
        rlp::list(&p)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let mut l = r.list("qbft PREPARE payload")?;
        let out = Self {
            sequence: l.u64("qbft PREPARE sequence")?,
            round: round_from(&mut l, "PREPARE round")?,
            digest: B256::from(l.array::<32>("qbft PREPARE digest")?),
        };
        l.finish("qbft PREPARE payload")?;
        Ok(out)
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }

    fn round(&self) -> u32 {
        self.round
    }
}

/// COMMIT's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Commit {
    /// Height.
    pub sequence: u64,
    /// Round.
    pub round: u32,
    /// The proposal digest.
    pub digest: B256,
    /// The committed seal over the header with this round in its extraData.
    pub commit_seal: [u8; 65],
}

impl Payload for Commit {
    const CODE: Code = Code::Commit;

    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(120);
        rlp::put_u64(&mut p, self.sequence);
        rlp::put_u64(&mut p, u64::from(self.round));
        rlp::put_bytes(&mut p, self.digest.as_slice());
        rlp::put_bytes(&mut p, &self.commit_seal);
        rlp::list(&p)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let mut l = r.list("qbft COMMIT payload")?;
        let out = Self {
            sequence: l.u64("qbft COMMIT sequence")?,
            round: round_from(&mut l, "COMMIT round")?,
            digest: B256::from(l.array::<32>("qbft COMMIT digest")?),
            commit_seal: l.array::<65>("qbft COMMIT commit seal")?,
        };
        l.finish("qbft COMMIT payload")?;
        Ok(out)
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }

    fn round(&self) -> u32 {
        self.round
    }
}

/// ROUND-CHANGE's signed payload (also the entries of a PRE-PREPARE's justification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundChangePayload {
    /// Height.
    pub sequence: u64,
    /// The round being changed to.
    pub round: u32,
    /// The latest prepared (round, digest), if any.
    pub prepared: Option<(u32, B256)>,
}

impl Payload for RoundChangePayload {
    const CODE: Code = Code::RoundChange;

    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(48);
        rlp::put_u64(&mut p, self.sequence);
        rlp::put_u64(&mut p, u64::from(self.round));
        let mut prep = Vec::new();
        if let Some((round, digest)) = self.prepared {
            rlp::put_u64(&mut prep, u64::from(round));
            rlp::put_bytes(&mut prep, digest.as_slice());
        }
        rlp::put_list(&mut p, &prep);
        rlp::list(&p)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let mut l = r.list("qbft ROUND-CHANGE payload")?;
        let sequence = l.u64("qbft ROUND-CHANGE sequence")?;
        let round = round_from(&mut l, "ROUND-CHANGE round")?;
        let mut prep = l.list("qbft ROUND-CHANGE prepared")?;
        let prepared = if prep.is_empty() {
            None
        } else {
            let pr = round_from(&mut prep, "ROUND-CHANGE prepared round")?;
            let pd = B256::from(prep.array::<32>("qbft ROUND-CHANGE prepared digest")?);
            prep.finish("qbft ROUND-CHANGE prepared")?;
            // GoQuorum never writes a zero digest (it means "not prepared"): refuse it so that
            // the encoding stays unique.
            if pd.is_zero() {
                return Err(MessageError::PreparedMismatch(
                    "prepared digest is zero (GoQuorum writes an empty list instead)",
                ));
            }
            Some((pr, pd))
        };
        l.finish("qbft ROUND-CHANGE payload")?;
        Ok(Self {
            sequence,
            round,
            prepared,
        })
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }

    fn round(&self) -> u32 {
        self.round
    }
}

/// PRE-PREPARE's signed payload: the proposed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Height.
    pub sequence: u64,
    /// Round.
    pub round: u32,
    /// The block.
    pub block: Block,
}

impl Payload for Proposal {
    const CODE: Code = Code::PrePrepare;

    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.block.rlp.len() + 16);
        rlp::put_u64(&mut p, self.sequence);
        rlp::put_u64(&mut p, u64::from(self.round));
        p.extend_from_slice(&self.block.rlp);
        rlp::list(&p)
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let mut l = r.list("qbft PRE-PREPARE payload")?;
        let sequence = l.u64("qbft PRE-PREPARE sequence")?;
        let round = round_from(&mut l, "PRE-PREPARE round")?;
        let block = Block::decode(l.raw("qbft PRE-PREPARE block")?)?;
        if !l.is_empty() {
            return Err(MessageError::BesuBalLayout("PRE-PREPARE payload"));
        }
        Ok(Self {
            sequence,
            round,
            block,
        })
    }

    fn sequence(&self) -> u64 {
        self.sequence
    }

    fn round(&self) -> u32 {
        self.round
    }
}

/// A payload and its author's signature `r ‖ s ‖ v` over `keccak(RLP([code, payload]))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<P> {
    /// The payload.
    pub payload: P,
    /// The signature.
    pub signature: [u8; 65],
}

impl<P: Payload> Signed<P> {
    /// Signs `payload` with `signer`.
    ///
    /// # Errors
    /// The signer's refusal.
    pub fn sign(payload: P, signer: &dyn Signer) -> Result<Self, SignError> {
        let signature = signer.sign(&signing_hash(P::CODE, &payload.encode()))?;
        Ok(Self { payload, signature })
    }

    /// The digest the signature covers.
    pub fn signing_hash(&self) -> B256 {
        signing_hash(P::CODE, &self.payload.encode())
    }

    /// The author: the address that made the signature.
    ///
    /// # Errors
    /// [`MessageError::BadSignature`] when it does not recover or `s` is high.
    pub fn author(&self) -> Result<Address, MessageError> {
        recover(&self.signing_hash(), &self.signature, P::CODE.name())
    }

    pub(crate) fn put(&self, out: &mut Vec<u8>) {
        let mut p = self.payload.encode();
        rlp::put_bytes(&mut p, &self.signature);
        rlp::put_list(out, &p);
    }

    pub(crate) fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Self, MessageError> {
        let mut l = r.list(what)?;
        let payload = P::decode(&mut l)?;
        let signature = l.array::<65>(what)?;
        if !l.is_empty() {
            return Err(DecodeError::TrailingBytes {
                what,
                extra: l.rest().len(),
            }
            .into());
        }
        Ok(Self { payload, signature })
    }
}

/// `keccak(RLP([code, payload]))`, what every QBFT signature covers (`bft-wire.md` §3).
pub fn signing_hash(code: Code, payload_list: &[u8]) -> B256 {
    let mut p = Vec::with_capacity(payload_list.len() + 1);
    rlp::put_u64(&mut p, code as u64);
    p.extend_from_slice(payload_list);
    keccak256(rlp::list(&p))
}

/// Recovers the signer of a 65-byte signature over `digest`, refusing high `s` as Besu does.
///
/// # Errors
/// [`MessageError::BadSignature`].
pub fn recover(digest: &B256, sig: &[u8; 65], what: &'static str) -> Result<Address, MessageError> {
    let s = sig.get(32..64).map(B256::from_slice).unwrap_or_default();
    if s > HALF_ORDER {
        return Err(MessageError::BadSignature {
            what,
            why: "s above half the curve order",
        });
    }
    cachet_seal::recover_address(digest, sig, what).map_err(|_| MessageError::BadSignature {
        what,
        why: "does not recover",
    })
}

fn read_list<P: Payload>(
    r: &mut Reader<'_>,
    what: &'static str,
    entry: &'static str,
) -> Result<Vec<Signed<P>>, MessageError> {
    let mut l = r.list(what)?;
    let n = l.count(what)?;
    if n > MAX_JUSTIFICATION {
        return Err(MessageError::TooMany { what, found: n });
    }
    let mut out = Vec::with_capacity(n);
    while !l.is_empty() {
        out.push(Signed::<P>::read(&mut l, entry)?);
    }
    Ok(out)
}

fn put_list_of<P: Payload>(out: &mut Vec<u8>, items: &[Signed<P>]) {
    let mut p = Vec::new();
    for i in items {
        i.put(&mut p);
    }
    rlp::put_list(out, &p);
}

/// A PRE-PREPARE: the signed proposal and, for round > 0, its justification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrePrepare {
    /// The signed proposal.
    pub proposal: Signed<Proposal>,
    /// The ROUND-CHANGE payloads that justify the round.
    pub round_changes: Vec<Signed<RoundChangePayload>>,
    /// The PREPAREs of the highest prepared certificate among them.
    pub prepares: Vec<Signed<Prepare>>,
}

/// A ROUND-CHANGE: the signed payload and the prepared certificate it reports, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundChange {
    /// The signed payload.
    pub payload: Signed<RoundChangePayload>,
    /// The prepared block (present exactly when the payload reports a prepared value).
    pub prepared_block: Option<Block>,
    /// The PREPAREs that prepared it.
    pub prepares: Vec<Signed<Prepare>>,
}

/// One QBFT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// PRE-PREPARE.
    PrePrepare(PrePrepare),
    /// PREPARE.
    Prepare(Signed<Prepare>),
    /// COMMIT.
    Commit(Signed<Commit>),
    /// ROUND-CHANGE.
    RoundChange(RoundChange),
}

impl Message {
    /// Decodes the payload of an `istanbul/100` message with code `code` (relative to the
    /// sub-protocol).
    ///
    /// # Errors
    /// [`MessageError`] naming what is wrong; never panics.
    pub fn decode(code: u8, bytes: &[u8]) -> Result<Self, MessageError> {
        let code = Code::from_u8(code).ok_or(MessageError::UnknownCode(code))?;
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(MessageError::TooLarge(bytes.len()));
        }
        let mut outer = Reader::new(bytes);
        let msg = match code {
            Code::Prepare => Self::Prepare(Signed::read(&mut outer, "qbft PREPARE")?),
            Code::Commit => Self::Commit(Signed::read(&mut outer, "qbft COMMIT")?),
            Code::PrePrepare => {
                let mut l = outer.list("qbft PRE-PREPARE")?;
                let proposal = Signed::read(&mut l, "qbft PRE-PREPARE proposal")?;
                let mut j = l.list("qbft PRE-PREPARE justification")?;
                let round_changes = read_list(
                    &mut j,
                    "PRE-PREPARE round-change justification",
                    "qbft PRE-PREPARE round-change entry",
                )?;
                let prepares = read_list(
                    &mut j,
                    "PRE-PREPARE prepare justification",
                    "qbft PRE-PREPARE prepare entry",
                )?;
                j.finish("qbft PRE-PREPARE justification")?;
                l.finish("qbft PRE-PREPARE")?;
                Self::PrePrepare(PrePrepare {
                    proposal,
                    round_changes,
                    prepares,
                })
            }
            Code::RoundChange => {
                let mut l = outer.list("qbft ROUND-CHANGE")?;
                let payload: Signed<RoundChangePayload> =
                    Signed::read(&mut l, "qbft ROUND-CHANGE payload")?;
                let raw = l.raw("qbft ROUND-CHANGE prepared block")?;
                let prepared_block = if raw == [0xc0] {
                    None
                } else {
                    Some(Block::decode(raw)?)
                };
                if l.count("qbft ROUND-CHANGE")? == 2 {
                    return Err(MessageError::BesuBalLayout("ROUND-CHANGE"));
                }
                let prepares = read_list(
                    &mut l,
                    "ROUND-CHANGE prepare justification",
                    "qbft ROUND-CHANGE prepare entry",
                )?;
                l.finish("qbft ROUND-CHANGE")?;
                match (&payload.payload.prepared, &prepared_block) {
                    (Some((_, d)), Some(block)) if block.digest() != *d => {
                        return Err(MessageError::PreparedMismatch(
                            "prepared block does not hash to the prepared digest",
                        ));
                    }
                    (Some(_), None) => {
                        return Err(MessageError::PreparedMismatch(
                            "prepared digest without the prepared block",
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(MessageError::PreparedMismatch(
                            "prepared block without a prepared round and digest",
                        ));
                    }
                    (None, None) if !prepares.is_empty() => {
                        return Err(MessageError::PreparedMismatch(
                            "PREPAREs without a prepared round and digest",
                        ));
                    }
                    _ => {}
                }
                Self::RoundChange(RoundChange {
                    payload,
                    prepared_block,
                    prepares,
                })
            }
        };
        outer.finish(code.name())?;
        Ok(msg)
    }

    /// The code.
    pub const fn code(&self) -> Code {
        match self {
            Self::PrePrepare(_) => Code::PrePrepare,
            Self::Prepare(_) => Code::Prepare,
            Self::Commit(_) => Code::Commit,
            Self::RoundChange(_) => Code::RoundChange,
        }
    }

    /// The p2p payload (what follows the message code on the wire).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Prepare(s) => s.put(&mut out),
            Self::Commit(s) => s.put(&mut out),
            Self::PrePrepare(m) => {
                let mut p = Vec::new();
                m.proposal.put(&mut p);
                let mut j = Vec::new();
                put_list_of(&mut j, &m.round_changes);
                put_list_of(&mut j, &m.prepares);
                rlp::put_list(&mut p, &j);
                rlp::put_list(&mut out, &p);
            }
            Self::RoundChange(m) => {
                let mut p = Vec::new();
                m.payload.put(&mut p);
                match &m.prepared_block {
                    Some(b) => p.extend_from_slice(&b.rlp),
                    None => rlp::put_list(&mut p, &[]),
                }
                put_list_of(&mut p, &m.prepares);
                rlp::put_list(&mut out, &p);
            }
        }
        out
    }

    /// (height, round) of the message.
    pub const fn view(&self) -> (u64, u32) {
        match self {
            Self::PrePrepare(m) => (m.proposal.payload.sequence, m.proposal.payload.round),
            Self::Prepare(s) => (s.payload.sequence, s.payload.round),
            Self::Commit(s) => (s.payload.sequence, s.payload.round),
            Self::RoundChange(m) => (m.payload.payload.sequence, m.payload.payload.round),
        }
    }

    /// The author of the message (its outer signature's signer).
    ///
    /// # Errors
    /// [`MessageError::BadSignature`].
    pub fn author(&self) -> Result<Address, MessageError> {
        match self {
            Self::PrePrepare(m) => m.proposal.author(),
            Self::Prepare(s) => s.author(),
            Self::Commit(s) => s.author(),
            Self::RoundChange(m) => m.payload.author(),
        }
    }

    /// Recovers every justification entry's author (in order: round changes, then prepares).
    ///
    /// # Errors
    /// The first entry whose signature does not recover.
    pub fn verify_justification_signatures(&self) -> Result<Vec<Address>, MessageError> {
        let mut out = Vec::new();
        match self {
            Self::PrePrepare(m) => {
                for rc in &m.round_changes {
                    out.push(rc.author()?);
                }
                for p in &m.prepares {
                    out.push(p.author()?);
                }
            }
            Self::RoundChange(m) => {
                for p in &m.prepares {
                    out.push(p.author()?);
                }
            }
            Self::Prepare(_) | Self::Commit(_) => {}
        }
        Ok(out)
    }
}
