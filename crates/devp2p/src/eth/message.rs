//! eth/66–68 messages (devp2p `caps/eth.md`): one codec; what differs between versions is
//! asked of [`EthVersion`]. Headers, bodies, blocks and transactions travel as raw RLP items:
//! the wire layer checks they are well-formed single items and the node decodes them.

use alloy_primitives::{B256, Bytes, U256};
use alloy_rlp::{BufMut, Encodable, Header};

use crate::DecodeError;
use crate::cursor::rlp;
use crate::eth::{EthVersion, Status};
/// Cap on items in one list (hashes, headers, bodies). geth serves at most 1024 headers or
/// bodies per request and the spec's soft limit for announcements is 4096 items; a larger list
/// is refused so one message cannot make us hold millions of small allocations.
pub const MAX_ITEMS: usize = 4096;

/// Message ids relative to the eth offset.
pub mod id {
    /// Status.
    pub const STATUS: u64 = 0x00;
    /// `NewBlockHashes`.
    pub const NEW_BLOCK_HASHES: u64 = 0x01;
    /// Transactions.
    pub const TRANSACTIONS: u64 = 0x02;
    /// `GetBlockHeaders`.
    pub const GET_BLOCK_HEADERS: u64 = 0x03;
    /// `BlockHeaders`.
    pub const BLOCK_HEADERS: u64 = 0x04;
    /// `GetBlockBodies`.
    pub const GET_BLOCK_BODIES: u64 = 0x05;
    /// `BlockBodies`.
    pub const BLOCK_BODIES: u64 = 0x06;
    /// `NewBlock`.
    pub const NEW_BLOCK: u64 = 0x07;
    /// `NewPooledTransactionHashes` (the eth/68 form: types, sizes, hashes).
    pub const NEW_POOLED_TRANSACTION_HASHES: u64 = 0x08;
    /// `GetPooledTransactions`.
    pub const GET_POOLED_TRANSACTIONS: u64 = 0x09;
    /// `PooledTransactions`.
    pub const POOLED_TRANSACTIONS: u64 = 0x0a;
    /// `GetNodeData` (eth/66 only).
    pub const GET_NODE_DATA: u64 = 0x0d;
    /// `NodeData` (eth/66 only).
    pub const NODE_DATA: u64 = 0x0e;
    /// `GetReceipts`.
    pub const GET_RECEIPTS: u64 = 0x0f;
    /// `Receipts`.
    pub const RECEIPTS: u64 = 0x10;
}

/// Where a header request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    /// By hash.
    Hash(B256),
    /// By number.
    Number(u64),
}

/// An eth message of any version we speak. Ids defined by the version without a variant here
/// (receipts) arrive as [`EthMessage::Other`], undecoded. [`EthMessage::fits`] says whether a
/// message exists in a version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EthMessage {
    /// 0x00 Status.
    Status(Status),
    /// 0x01 `NewBlockHashes`: `[[hash, number], ...]`.
    NewBlockHashes(Vec<(B256, u64)>),
    /// 0x02 Transactions: the whole `[tx, ...]` list, passed through.
    Transactions(Bytes),
    /// 0x03 `GetBlockHeaders`.
    GetBlockHeaders {
        /// Request id echoed by the response.
        request_id: u64,
        /// First block.
        start: BlockId,
        /// Most headers wanted.
        limit: u64,
        /// Blocks skipped between headers.
        skip: u64,
        /// Descending when true.
        reverse: bool,
    },
    /// 0x04 `BlockHeaders`: each header as one raw RLP item.
    BlockHeaders {
        /// The request's id.
        request_id: u64,
        /// Raw header RLP items.
        headers: Vec<Bytes>,
    },
    /// 0x05 `GetBlockBodies`.
    GetBlockBodies {
        /// Request id echoed by the response.
        request_id: u64,
        /// Block hashes.
        hashes: Vec<B256>,
    },
    /// 0x06 `BlockBodies`: each body as one raw RLP item.
    BlockBodies {
        /// The request's id.
        request_id: u64,
        /// Raw body RLP items.
        bodies: Vec<Bytes>,
    },
    /// 0x07 `NewBlock`: the block as one raw RLP item and its total difficulty.
    NewBlock {
        /// The raw block RLP item.
        block: Bytes,
        /// Total difficulty including this block.
        total_difficulty: U256,
    },
    /// 0x08 `NewPooledTransactionHashes`, eth/68 form: one type byte, size and hash per
    /// transaction (the three lists have the same length).
    NewPooledTransactionHashes {
        /// Transaction types, one byte each.
        types: Bytes,
        /// Encoded sizes (the transaction's EIP-2718 bytes).
        sizes: Vec<u32>,
        /// Transaction hashes.
        hashes: Vec<B256>,
    },
    /// 0x08 `NewPooledTransactionHashes`, eth/66–67 form: the hashes only.
    NewPooledTransactionHashes66 {
        /// Transaction hashes.
        hashes: Vec<B256>,
    },
    /// 0x09 `GetPooledTransactions`.
    GetPooledTransactions {
        /// Request id echoed by the response.
        request_id: u64,
        /// Transaction hashes wanted.
        hashes: Vec<B256>,
    },
    /// 0x0a `PooledTransactions`: each transaction as one raw RLP item in its network form
    /// (a legacy transaction is a list, a typed one a string holding its EIP-2718 bytes).
    PooledTransactions {
        /// The request's id.
        request_id: u64,
        /// Raw transaction items.
        transactions: Vec<Bytes>,
    },
    /// 0x0d `GetNodeData` (eth/66 only): state trie nodes or code by hash. We keep no
    /// hash-addressed state to serve, so it is answered with an empty [`EthMessage::NodeData`].
    GetNodeData {
        /// Request id echoed by the response.
        request_id: u64,
        /// Node or code hashes.
        hashes: Vec<B256>,
    },
    /// 0x0e `NodeData` (eth/66 only): the values asked for, each a byte string.
    NodeData {
        /// The request's id.
        request_id: u64,
        /// Trie nodes or code.
        values: Vec<Bytes>,
    },
    /// Any other message the version defines (receipts), undecoded.
    Other {
        /// Id relative to the eth offset.
        id: u64,
        /// Message data.
        data: Bytes,
    },
}

impl EthMessage {
    /// The id relative to the eth offset.
    pub fn id(&self) -> u64 {
        match self {
            Self::Status(_) => id::STATUS,
            Self::NewBlockHashes(_) => id::NEW_BLOCK_HASHES,
            Self::Transactions(_) => id::TRANSACTIONS,
            Self::GetBlockHeaders { .. } => id::GET_BLOCK_HEADERS,
            Self::BlockHeaders { .. } => id::BLOCK_HEADERS,
            Self::GetBlockBodies { .. } => id::GET_BLOCK_BODIES,
            Self::BlockBodies { .. } => id::BLOCK_BODIES,
            Self::NewBlock { .. } => id::NEW_BLOCK,
            Self::NewPooledTransactionHashes { .. } | Self::NewPooledTransactionHashes66 { .. } => {
                id::NEW_POOLED_TRANSACTION_HASHES
            }
            Self::GetPooledTransactions { .. } => id::GET_POOLED_TRANSACTIONS,
            Self::PooledTransactions { .. } => id::POOLED_TRANSACTIONS,
            Self::GetNodeData { .. } => id::GET_NODE_DATA,
            Self::NodeData { .. } => id::NODE_DATA,
            Self::Other { id, .. } => *id,
        }
    }

    /// Whether this message exists, in this form, in `version`: its id is defined there and a
    /// transaction announcement has the version's form.
    pub fn fits(&self, version: EthVersion) -> bool {
        match self {
            Self::NewPooledTransactionHashes { .. } => version.announces_types_and_sizes(),
            Self::NewPooledTransactionHashes66 { .. } => !version.announces_types_and_sizes(),
            m => version.defines(m.id()),
        }
    }

    /// A transaction announcement in the form `version` needs: types, sizes and hashes for
    /// eth/68, the hashes alone for eth/66 and eth/67. The three slices have equal length.
    pub fn announcement(
        version: EthVersion,
        types: Bytes,
        sizes: Vec<u32>,
        hashes: Vec<B256>,
    ) -> Self {
        if version.announces_types_and_sizes() {
            Self::NewPooledTransactionHashes {
                types,
                sizes,
                hashes,
            }
        } else {
            Self::NewPooledTransactionHashes66 { hashes }
        }
    }

    /// Encodes the message data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Status(s) => return s.encode(),
            Self::NewBlockHashes(items) => {
                let enc: Vec<Vec<u8>> = items.iter().map(|(h, n)| list(&[h, n])).collect();
                raw_list(&mut out, &enc);
            }
            Self::Transactions(data) | Self::Other { data, .. } => out.extend_from_slice(data),
            Self::GetBlockHeaders {
                request_id,
                start,
                limit,
                skip,
                reverse,
            } => {
                let start: Vec<u8> = match start {
                    BlockId::Hash(h) => alloy_rlp::encode(h),
                    BlockId::Number(n) => alloy_rlp::encode(n),
                };
                let inner = [
                    start,
                    alloy_rlp::encode(limit),
                    alloy_rlp::encode(skip),
                    alloy_rlp::encode(u64::from(*reverse)),
                ];
                let mut body = Vec::new();
                raw_list(&mut body, &inner);
                raw_list(&mut out, &[alloy_rlp::encode(request_id), body]);
            }
            Self::BlockHeaders {
                request_id,
                headers: items,
            }
            | Self::BlockBodies {
                request_id,
                bodies: items,
            }
            | Self::PooledTransactions {
                request_id,
                transactions: items,
            } => {
                let mut body = Vec::new();
                let raws: Vec<Vec<u8>> = items.iter().map(|b| b.to_vec()).collect();
                raw_list(&mut body, &raws);
                raw_list(&mut out, &[alloy_rlp::encode(request_id), body]);
            }
            Self::NewPooledTransactionHashes {
                types,
                sizes,
                hashes,
            } => {
                let sizes: Vec<Vec<u8>> = sizes.iter().map(alloy_rlp::encode).collect();
                let hashes: Vec<Vec<u8>> = hashes.iter().map(alloy_rlp::encode).collect();
                let (mut s, mut h) = (Vec::new(), Vec::new());
                raw_list(&mut s, &sizes);
                raw_list(&mut h, &hashes);
                raw_list(&mut out, &[alloy_rlp::encode(types), s, h]);
            }
            Self::NewPooledTransactionHashes66 { hashes } => {
                let hashes: Vec<Vec<u8>> = hashes.iter().map(alloy_rlp::encode).collect();
                raw_list(&mut out, &hashes);
            }
            Self::NodeData { request_id, values } => {
                let mut body = Vec::new();
                let enc: Vec<Vec<u8>> = values.iter().map(alloy_rlp::encode).collect();
                raw_list(&mut body, &enc);
                raw_list(&mut out, &[alloy_rlp::encode(request_id), body]);
            }
            Self::GetBlockBodies { request_id, hashes }
            | Self::GetNodeData { request_id, hashes }
            | Self::GetPooledTransactions { request_id, hashes } => {
                let mut body = Vec::new();
                let enc: Vec<Vec<u8>> = hashes.iter().map(alloy_rlp::encode).collect();
                raw_list(&mut body, &enc);
                raw_list(&mut out, &[alloy_rlp::encode(request_id), body]);
            }
            Self::NewBlock {
                block,
                total_difficulty,
            } => {
                raw_list(
                    &mut out,
                    &[block.to_vec(), alloy_rlp::encode(total_difficulty)],
                );
            }
        }
        out
    }

    /// Decodes message data for an id relative to the eth offset, as `version` defines it.
    /// Strict: no trailing bytes, exact element counts, lists capped at [`MAX_ITEMS`].
    ///
    /// # Errors
    /// [`DecodeError::UndefinedMessage`] for an id the version does not define (`GetNodeData`
    /// on eth/67 or eth/68); [`DecodeError`] when malformed.
    pub fn decode(version: EthVersion, id: u64, data: &[u8]) -> Result<Self, DecodeError> {
        if !version.defines(id) {
            return Err(DecodeError::UndefinedMessage {
                id,
                version: version.number(),
            });
        }
        let mut buf = data;
        let msg = match id {
            id::STATUS => return Status::decode(data).map(Self::Status),
            id::NEW_BLOCK_HASHES => {
                const WHAT: &str = "new block hashes";
                let mut items = rlp::list(&mut buf, WHAT)?;
                let mut out = Vec::new();
                while !items.is_empty() {
                    cap(out.len(), WHAT)?;
                    let mut pair = rlp::list(&mut items, WHAT)?;
                    let hash = B256::from(rlp::array::<32>(&mut pair, WHAT)?);
                    let number = rlp::u64(&mut pair, WHAT)?;
                    rlp::finish(pair, WHAT)?;
                    out.push((hash, number));
                }
                Self::NewBlockHashes(out)
            }
            id::TRANSACTIONS => {
                let raw = rlp::raw(&mut buf, "transactions")?;
                let mut check = raw;
                rlp::list(&mut check, "transactions")?;
                Self::Transactions(Bytes::copy_from_slice(raw))
            }
            id::GET_BLOCK_HEADERS => {
                const WHAT: &str = "get block headers";
                let mut outer = rlp::list(&mut buf, WHAT)?;
                let request_id = rlp::u64(&mut outer, WHAT)?;
                let mut q = rlp::list(&mut outer, WHAT)?;
                rlp::finish(outer, WHAT)?;
                let start_raw = rlp::bytes(&mut q, WHAT)?;
                let start = if start_raw.len() == 32 {
                    BlockId::Hash(B256::from_slice(start_raw))
                } else {
                    BlockId::Number(number_from_be(start_raw, WHAT)?)
                };
                let limit = rlp::u64(&mut q, WHAT)?;
                let skip = rlp::u64(&mut q, WHAT)?;
                let reverse = match rlp::u64(&mut q, WHAT)? {
                    0 => false,
                    1 => true,
                    _ => {
                        return Err(DecodeError::InvalidValue {
                            what: WHAT,
                            reason: "reverse is not 0 or 1",
                        });
                    }
                };
                rlp::finish(q, WHAT)?;
                Self::GetBlockHeaders {
                    request_id,
                    start,
                    limit,
                    skip,
                    reverse,
                }
            }
            id::BLOCK_HEADERS | id::BLOCK_BODIES => {
                let what = if id == id::BLOCK_HEADERS {
                    "block headers"
                } else {
                    "block bodies"
                };
                let mut outer = rlp::list(&mut buf, what)?;
                let request_id = rlp::u64(&mut outer, what)?;
                let mut items = rlp::list(&mut outer, what)?;
                rlp::finish(outer, what)?;
                let mut out = Vec::new();
                while !items.is_empty() {
                    cap(out.len(), what)?;
                    let item = rlp::raw(&mut items, what)?;
                    if item.first().is_none_or(|b| *b < 0xc0) {
                        return Err(DecodeError::InvalidValue {
                            what,
                            reason: "item is not a list",
                        });
                    }
                    out.push(Bytes::copy_from_slice(item));
                }
                if id == id::BLOCK_HEADERS {
                    Self::BlockHeaders {
                        request_id,
                        headers: out,
                    }
                } else {
                    Self::BlockBodies {
                        request_id,
                        bodies: out,
                    }
                }
            }
            id::GET_BLOCK_BODIES | id::GET_POOLED_TRANSACTIONS | id::GET_NODE_DATA => {
                let what = match id {
                    id::GET_BLOCK_BODIES => "get block bodies",
                    id::GET_NODE_DATA => "get node data",
                    _ => "get pooled transactions",
                };
                let mut outer = rlp::list(&mut buf, what)?;
                let request_id = rlp::u64(&mut outer, what)?;
                let mut items = rlp::list(&mut outer, what)?;
                rlp::finish(outer, what)?;
                let hashes = hash_list(&mut items, what)?;
                match id {
                    id::GET_BLOCK_BODIES => Self::GetBlockBodies { request_id, hashes },
                    id::GET_NODE_DATA => Self::GetNodeData { request_id, hashes },
                    _ => Self::GetPooledTransactions { request_id, hashes },
                }
            }
            id::NODE_DATA => {
                const WHAT: &str = "node data";
                let mut outer = rlp::list(&mut buf, WHAT)?;
                let request_id = rlp::u64(&mut outer, WHAT)?;
                let mut items = rlp::list(&mut outer, WHAT)?;
                rlp::finish(outer, WHAT)?;
                let mut values = Vec::new();
                while !items.is_empty() {
                    cap(values.len(), WHAT)?;
                    values.push(Bytes::copy_from_slice(rlp::bytes(&mut items, WHAT)?));
                }
                Self::NodeData { request_id, values }
            }
            id::NEW_POOLED_TRANSACTION_HASHES if !version.announces_types_and_sizes() => {
                const WHAT: &str = "new pooled transaction hashes";
                let mut items = rlp::list(&mut buf, WHAT)?;
                Self::NewPooledTransactionHashes66 {
                    hashes: hash_list(&mut items, WHAT)?,
                }
            }
            id::NEW_POOLED_TRANSACTION_HASHES => {
                const WHAT: &str = "new pooled transaction hashes";
                let mut outer = rlp::list(&mut buf, WHAT)?;
                let types = rlp::bytes(&mut outer, WHAT)?;
                let mut size_items = rlp::list(&mut outer, WHAT)?;
                let mut hash_items = rlp::list(&mut outer, WHAT)?;
                rlp::finish(outer, WHAT)?;
                let mut sizes = Vec::new();
                while !size_items.is_empty() {
                    cap(sizes.len(), WHAT)?;
                    let size = rlp::u64(&mut size_items, WHAT)?;
                    sizes.push(u32::try_from(size).map_err(|_| DecodeError::InvalidValue {
                        what: WHAT,
                        reason: "size does not fit 32 bits",
                    })?);
                }
                let hashes = hash_list(&mut hash_items, WHAT)?;
                if types.len() != sizes.len() || sizes.len() != hashes.len() {
                    return Err(DecodeError::InvalidValue {
                        what: WHAT,
                        reason: "types, sizes and hashes differ in length",
                    });
                }
                Self::NewPooledTransactionHashes {
                    types: Bytes::copy_from_slice(types),
                    sizes,
                    hashes,
                }
            }
            id::POOLED_TRANSACTIONS => {
                const WHAT: &str = "pooled transactions";
                let mut outer = rlp::list(&mut buf, WHAT)?;
                let request_id = rlp::u64(&mut outer, WHAT)?;
                let mut items = rlp::list(&mut outer, WHAT)?;
                rlp::finish(outer, WHAT)?;
                let transactions = raw_items(&mut items, WHAT)?;
                Self::PooledTransactions {
                    request_id,
                    transactions,
                }
            }
            id::NEW_BLOCK => {
                const WHAT: &str = "new block";
                let mut outer = rlp::list(&mut buf, WHAT)?;
                let block = rlp::raw(&mut outer, WHAT)?;
                if block.first().is_none_or(|b| *b < 0xc0) {
                    return Err(DecodeError::InvalidValue {
                        what: WHAT,
                        reason: "block is not a list",
                    });
                }
                let total_difficulty = rlp::u256(&mut outer, WHAT)?;
                rlp::finish(outer, WHAT)?;
                Self::NewBlock {
                    block: Bytes::copy_from_slice(block),
                    total_difficulty,
                }
            }
            // Defined by the version (checked above) without a variant: receipts.
            other => {
                let raw = rlp::raw(&mut buf, "eth message")?;
                Self::Other {
                    id: other,
                    data: Bytes::copy_from_slice(raw),
                }
            }
        };
        rlp::finish(buf, "eth message")?;
        Ok(msg)
    }
}

/// The items of a `Transactions` message's list, each one raw RLP item (a transaction in its
/// network form), at most [`MAX_ITEMS`]: the split `PooledTransactions` decodes with.
///
/// # Errors
/// [`DecodeError`] when `list` is not one well-formed list or holds too many items.
pub fn transaction_items(list: &[u8]) -> Result<Vec<Bytes>, DecodeError> {
    const WHAT: &str = "transactions";
    let mut buf = list;
    let mut items = rlp::list(&mut buf, WHAT)?;
    rlp::finish(buf, WHAT)?;
    raw_items(&mut items, WHAT)
}

impl EthMessage {
    /// A `Transactions` message of raw items (transactions in their network form).
    pub fn transactions(items: &[Vec<u8>]) -> Self {
        let mut out = Vec::new();
        raw_list(&mut out, items);
        Self::Transactions(Bytes::from(out))
    }
}

/// Raw RLP items up to the end of `items`, capped at [`MAX_ITEMS`].
fn raw_items(items: &mut &[u8], what: &'static str) -> Result<Vec<Bytes>, DecodeError> {
    let mut out = Vec::new();
    while !items.is_empty() {
        cap(out.len(), what)?;
        out.push(Bytes::copy_from_slice(rlp::raw(items, what)?));
    }
    Ok(out)
}

/// A list of 32-byte hashes, capped at [`MAX_ITEMS`].
fn hash_list(items: &mut &[u8], what: &'static str) -> Result<Vec<B256>, DecodeError> {
    let mut hashes = Vec::new();
    while !items.is_empty() {
        cap(hashes.len(), what)?;
        hashes.push(B256::from(rlp::array::<32>(items, what)?));
    }
    Ok(hashes)
}

fn cap(len: usize, what: &'static str) -> Result<(), DecodeError> {
    if len >= MAX_ITEMS {
        return Err(DecodeError::TooLarge {
            what,
            size: len + 1,
            cap: MAX_ITEMS,
        });
    }
    Ok(())
}

/// A block number given as an RLP string payload (≤ 8 bytes, canonical: no leading zero).
fn number_from_be(bytes: &[u8], what: &'static str) -> Result<u64, DecodeError> {
    if bytes.len() > 8 {
        return Err(DecodeError::InvalidValue {
            what,
            reason: "start block is neither a hash nor a u64",
        });
    }
    if bytes.first() == Some(&0) {
        return Err(DecodeError::Rlp {
            what,
            reason: "leading zero",
        });
    }
    Ok(bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
}

fn list(fields: &[&dyn Encodable]) -> Vec<u8> {
    let payload_length = fields.iter().map(|f| f.length()).sum();
    let mut out = Vec::with_capacity(payload_length + 3);
    Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    for f in fields {
        f.encode(&mut out as &mut dyn BufMut);
    }
    out
}

fn raw_list(out: &mut Vec<u8>, items: &[Vec<u8>]) {
    let payload_length = items.iter().map(Vec::len).sum();
    Header {
        list: true,
        payload_length,
    }
    .encode(out);
    for i in items {
        out.extend_from_slice(i);
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
pub(crate) mod tests;
