//! The execution crate's errors: a block that breaks a rule ([`BlockError`]), a transaction the
//! pool must refuse ([`TxError`]), a genesis Cachet cannot execute ([`Unsupported`]).

use alloy_primitives::{B256, Bloom};
use cachet_primitives::DecodeError;
use cachet_state::StateError;

/// Why a block (its body, a transaction in it, or its execution's results) is refused, or why
/// executing it failed for a reason that is not the block's (the state store, a bug).
///
/// Every variant names the rule; variants about one transaction carry its index in the body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The body is not `[transactions, ommers]` or `[transactions, ommers, withdrawals]`.
    #[error("block body rlp is malformed")]
    BodyRlp {
        /// What the reader found.
        #[source]
        source: DecodeError,
    },
    /// A transaction in the body does not decode (EIP-2718 envelope or its RLP).
    #[error("transaction {index} in the body does not decode: {reason}")]
    TransactionRlp {
        /// Index of the transaction in the body.
        index: usize,
        /// alloy's decoder error, as text (its error type holds no more than that).
        reason: String,
    },
    /// An ommer header in the body does not decode.
    #[error("ommer {index} in the body does not decode")]
    OmmerRlp {
        /// Index of the ommer in the body.
        index: usize,
        /// What the header codec found.
        #[source]
        source: DecodeError,
    },
    /// A withdrawal in the body does not decode.
    #[error("withdrawal {index} in the body does not decode: {reason}")]
    WithdrawalRlp {
        /// Index of the withdrawal in the body.
        index: usize,
        /// The RLP decoder's error, as text.
        reason: String,
    },
    /// The header's transactionsRoot is not the root of the body's transactions.
    #[error("transactions root mismatch: header has {header}, body gives {body}")]
    TransactionsRoot {
        /// The header's value.
        header: B256,
        /// The root computed from the body.
        body: B256,
    },
    /// The header's ommersHash is not the hash of the body's ommers list.
    #[error("ommers hash mismatch: header has {header}, body gives {body}")]
    OmmersHash {
        /// The header's value.
        header: B256,
        /// keccak256 of the body's ommers list.
        body: B256,
    },
    /// The header's withdrawalsRoot does not match the body's withdrawals (or exactly one of
    /// the two is present).
    #[error("withdrawals root mismatch: header has {header:?}, body gives {body:?}")]
    WithdrawalsRoot {
        /// The header's value.
        header: Option<B256>,
        /// The root computed from the body.
        body: Option<B256>,
    },
    /// Withdrawals are present before Shanghai or missing from Shanghai on.
    #[error("withdrawals {found} in block {number}: they are required exactly from Shanghai on")]
    WithdrawalsFork {
        /// The block number.
        number: u64,
        /// "present" or "missing".
        found: &'static str,
    },
    /// A transaction's signature does not recover a sender.
    #[error("transaction {index} has an invalid signature: no sender recovers from it")]
    InvalidSignature {
        /// Index of the transaction in the body.
        index: usize,
    },
    /// From Homestead on, a signature's s value must be at most secp256k1n/2 (EIP-2).
    #[error(
        "transaction {index} has a signature with s above secp256k1n/2, invalid from Homestead on (EIP-2)"
    )]
    HighS {
        /// Index of the transaction in the body.
        index: usize,
    },
    /// The node passed a sender list of a different length than the transactions.
    #[error("{senders} senders for {transactions} transactions (this is a bug in cachet)")]
    SendersMismatch {
        /// Transactions in the body.
        transactions: usize,
        /// Senders given.
        senders: usize,
    },
    /// A transaction breaks a rule the pool also checks (type not active, chain id, private).
    #[error("transaction {index} is invalid in this block")]
    Transaction {
        /// Index of the transaction in the body.
        index: usize,
        /// The rule.
        #[source]
        source: TxError,
    },
    /// The EVM refused a transaction before executing it (nonce, balance, intrinsic gas, fee
    /// cap below the base fee, sender with code, …).
    #[error("transaction {index} is invalid: {reason}")]
    InvalidTransaction {
        /// Index of the transaction in the body.
        index: usize,
        /// revm's reason.
        reason: String,
    },
    /// The transactions' gas limits exceed the block's gas limit.
    #[error(
        "transaction {index} needs {tx_gas} gas but only {available} of the block's gas limit is left"
    )]
    BlockGasExceeded {
        /// Index of the transaction in the body.
        index: usize,
        /// The transaction's gas limit.
        tx_gas: u64,
        /// The block's gas limit minus the gas used before this transaction.
        available: u64,
    },
    /// The EVM refused the block environment (e.g. a header field out of range).
    #[error("block {number} cannot be executed: {reason}")]
    InvalidHeader {
        /// The block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// Before Byzantium a receipt holds the state root after its transaction; [`Executor::execute`]
    /// cannot compute it (use [`Executor::execute_with_roots`]).
    ///
    /// [`Executor::execute`]: crate::Executor::execute
    /// [`Executor::execute_with_roots`]: crate::Executor::execute_with_roots
    #[error(
        "block {number} carries transactions before Byzantium: its receipts hold the state root after each transaction, which only Executor::execute_with_roots computes"
    )]
    PreByzantiumTransactions {
        /// The block number.
        number: u64,
    },
    /// The header's gasUsed differs from the execution's.
    #[error("gas used mismatch: header has {header}, execution used {computed}")]
    GasUsed {
        /// The header's value.
        header: u64,
        /// The sum of the receipts' gas.
        computed: u64,
    },
    /// The header's receiptsRoot differs from the execution's.
    #[error("receipts root mismatch: header has {header}, execution gives {computed}")]
    ReceiptsRoot {
        /// The header's value.
        header: B256,
        /// The root of the execution's receipts.
        computed: B256,
    },
    /// The header's logsBloom differs from the execution's.
    #[error("logs bloom mismatch: header has {header}, execution gives {computed}")]
    LogsBloom {
        /// The header's value.
        header: Box<Bloom>,
        /// The OR of the receipts' blooms.
        computed: Box<Bloom>,
    },
    /// Stored receipts do not decode.
    #[error("stored receipts do not decode: {reason}")]
    ReceiptsRlp {
        /// What is wrong.
        reason: String,
    },
    /// Reading the parent state failed (the store's fault, not the block's).
    #[error("reading the parent state failed")]
    State {
        /// The store's error.
        #[source]
        source: StateError,
    },
    /// Something that cannot happen did.
    #[error("{what} (this is a bug in cachet)")]
    Internal {
        /// What happened.
        what: String,
    },
}

impl BlockError {
    /// Whether the block is at fault (refuse it, drop the peer) rather than the local store
    /// or Cachet itself.
    pub const fn is_invalid_block(&self) -> bool {
        !matches!(
            self,
            Self::State { .. }
                | Self::Internal { .. }
                | Self::SendersMismatch { .. }
                | Self::PreByzantiumTransactions { .. }
        )
    }
}

/// Why a transaction is not acceptable in a block with a given number and timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// The transaction type's fork is not active at this block.
    #[error("transaction type {tx_type} ({name}) is not valid before {fork}")]
    TypeNotActive {
        /// The EIP-2718 type byte.
        tx_type: u8,
        /// The type's name, e.g. "EIP-1559".
        name: &'static str,
        /// The fork that introduces it, e.g. "London".
        fork: &'static str,
    },
    /// The transaction type is never executed by Cachet.
    #[error("transaction type {tx_type} ({name}) is not supported: {reason}")]
    TypeUnsupported {
        /// The EIP-2718 type byte.
        tx_type: u8,
        /// The type's name, e.g. "EIP-4844".
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The transaction is signed for another chain.
    #[error("transaction is signed for chain id {found}, this chain is {expected}")]
    ChainId {
        /// This chain's id.
        expected: u64,
        /// The transaction's.
        found: u64,
    },
    /// A replay-protected (EIP-155) legacy transaction before the EIP-155 fork.
    #[error("transaction is replay-protected (EIP-155), which is not valid before eip155Block")]
    ReplayProtectionNotActive,
    /// The transaction exceeds the chain's size limit.
    #[error("transaction is {size} bytes, above the chain's limit of {limit} bytes (txnSizeLimit)")]
    TooLarge {
        /// The transaction's encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A non-zero gas price on a GoQuorum chain before gas price is enabled.
    #[error(
        "transaction pays a gas price of {gas_price} wei on a GoQuorum chain whose gas price is not enabled (enableGasPriceBlock / transitions gasPriceEnabled)"
    )]
    GasPriceNotEnabled {
        /// The gas price (EIP-1559: the fee cap).
        gas_price: u128,
    },
    /// A GoQuorum private transaction (v = 37/38) on an `isQuorum` chain.
    #[error(
        "transaction is a GoQuorum private transaction (v = 37/38): cachet has no private state manager and cannot execute it"
    )]
    PrivateTransaction,
}

/// A genesis setting Cachet does not execute; refused at startup rather than computing a
/// different state than the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// A fork Cachet's EVM configuration does not implement.
    #[error("genesis config.{key} schedules {fork}, which cachet does not execute: {remedy}")]
    Fork {
        /// The genesis key, e.g. `cancunTime`.
        key: &'static str,
        /// The fork's name.
        fork: &'static str,
        /// What to do.
        remedy: &'static str,
    },
    /// The block forks are out of order or one is missing before a later one (as geth's
    /// `CheckConfigForkOrder`).
    #[error(
        "genesis config.{later} is set but config.{earlier} {problem}: schedule the forks in order"
    )]
    ForkOrder {
        /// The earlier fork's key.
        earlier: &'static str,
        /// The later fork's key.
        later: &'static str,
        /// "is missing" or "comes after it".
        problem: &'static str,
    },
    /// A genesis key whose behaviour Cachet does not implement.
    #[error("genesis {key} is set, which cachet does not implement: {remedy}")]
    Key {
        /// The key's path, e.g. `config.zeroBaseFee`.
        key: String,
        /// What it would take.
        remedy: &'static str,
    },
    /// A genesis value the reference client itself rejects.
    #[error("genesis {key} is invalid: {reason}")]
    Invalid {
        /// The key's path.
        key: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A genesis value out of the range the reference client accepts.
    #[error("genesis {key} is {value}, outside {range}")]
    OutOfRange {
        /// The key's path.
        key: &'static str,
        /// The value found.
        value: u64,
        /// The accepted range, e.g. "24..=128 KiB (GoQuorum)".
        range: &'static str,
    },
}
