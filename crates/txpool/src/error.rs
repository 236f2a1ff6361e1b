//! [`PoolError`]: why the pool refuses a transaction, in geth's words.

use alloy_primitives::{Address, U256};
use cachet_execution::TxError;

/// geth's JSON-RPC code for every error `eth_sendRawTransaction` returns from its pool
/// (`rpc/errors.go` `errcodeDefault`: the pool's errors carry no code of their own).
pub const GETH_DEFAULT_ERROR_CODE: i32 = -32000;

/// Why the pool refused a transaction. `Display` is geth 1.14's text (`core/txpool/errors.go`,
/// `core/error.go`, `core/types`; the detail after the colon as `core/txpool/validation.go`
/// and `legacypool` format it), so clients that match on geth's messages work unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The bytes are not an EIP-2718 transaction (geth returns `UnmarshalBinary`'s error).
    #[error("{reason}")]
    Decode {
        /// geth's decoder wording where it has one ("typed transaction too short",
        /// "transaction type not supported"), else "rlp: " and alloy's reason.
        reason: String,
    },
    /// The pool holds this transaction already (`txpool.ErrAlreadyKnown`).
    #[error("already known")]
    AlreadyKnown,
    /// No sender recovers from the signature, or it is signed for another chain
    /// (`txpool.ErrInvalidSender` wrapping the signer's error).
    #[error("invalid sender: {reason}")]
    InvalidSender {
        /// The signer's error: "invalid chain id for signer: have 7 want 1337", "invalid
        /// transaction v, r, s values".
        reason: String,
    },
    /// The tip is below the pool's minimum (`--miner.gasprice`; `txpool.ErrUnderpriced`).
    #[error("transaction underpriced: gas tip cap {tip}, minimum needed {minimum}")]
    TipTooLow {
        /// The transaction's tip cap (legacy: gas price).
        tip: u128,
        /// The pool's minimum.
        minimum: u128,
    },
    /// The pool is full and the transaction pays no more than the cheapest one in it
    /// (`txpool.ErrUnderpriced` as `legacypool.add` returns it).
    #[error("transaction underpriced")]
    Underpriced,
    /// Same sender and nonce as a pooled transaction without the price bump on both fee cap
    /// and tip (`txpool.ErrReplaceUnderpriced`).
    #[error("replacement transaction underpriced")]
    ReplaceUnderpriced,
    /// The sender's queued (gapped) transactions are at the per-account limit and this one
    /// has the highest nonce (`txpool.ErrAccountLimitExceeded`).
    #[error("account limit exceeded: pooled {pooled} txs")]
    AccountLimitExceeded {
        /// Transactions of the sender in the pool.
        pooled: usize,
    },
    /// The gas limit is above the head's block gas limit (`txpool.ErrGasLimit`).
    #[error("exceeds block gas limit")]
    GasLimit,
    /// Larger than the chain's size limit (`txpool.ErrOversizedData`).
    #[error("oversized data: transaction size {size}, limit {limit}")]
    OversizedData {
        /// The encoded size.
        size: usize,
        /// The limit (geth's 128 KiB; GoQuorum's `txnSizeLimit`).
        limit: usize,
    },
    /// The pool's limits are reached and the transaction would be the one to go
    /// (`legacypool.ErrTxPoolOverflow`).
    #[error("txpool is full")]
    TxPoolFull,
    /// The type is not active at the head's fork, or never executed by Cachet
    /// (`core.ErrTxTypeNotSupported`).
    #[error("transaction type not supported: {detail}")]
    TypeNotSupported {
        /// geth's detail, e.g. "type 2 rejected, pool not yet in London".
        detail: String,
    },
    /// The nonce is below the sender's account nonce (`core.ErrNonceTooLow`).
    #[error("nonce too low: next nonce {next}, tx nonce {nonce}")]
    NonceTooLow {
        /// The account's nonce at the head.
        next: u64,
        /// The transaction's.
        nonce: u64,
    },
    /// The nonce is 2^64-1 (EIP-2681; `core.ErrNonceMax`).
    #[error("nonce has max value")]
    NonceMax,
    /// The balance does not cover value + gas × fee cap (`core.ErrInsufficientFunds`).
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}, overshot {}", cost.saturating_sub(*balance))]
    InsufficientFunds {
        /// The sender's balance at the head.
        balance: U256,
        /// value + gas limit × fee cap.
        cost: U256,
    },
    /// The balance covers the transaction alone but not with the sender's pending ones.
    #[error("insufficient funds for gas * price + value: balance {balance}, queued cost {queued}, tx cost {cost}, overshot {}", queued.saturating_add(*cost).saturating_sub(*balance))]
    InsufficientFundsQueued {
        /// The sender's balance at the head.
        balance: U256,
        /// The cost of the sender's pending transactions (but the one replaced).
        queued: U256,
        /// This transaction's cost.
        cost: U256,
    },
    /// The gas limit is below the intrinsic gas (`core.ErrIntrinsicGas`).
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas {
        /// The transaction's gas limit.
        gas: u64,
        /// Its intrinsic gas at the head's fork.
        needed: u64,
    },
    /// The tip cap is above the fee cap (`core.ErrTipAboveFeeCap`).
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// A non-zero gas price on a GoQuorum chain whose gas price is not enabled: GoQuorum's
    /// own pool text (`core/tx_pool.go` `ErrInvalidGasPrice`).
    #[error("Gas price not 0")]
    GasPriceNotZero,
    /// A permissioned-network rule of the chain (GoQuorum private transactions, gas price not
    /// enabled, EIP-155 before its fork): Cachet's own text, geth has none.
    #[error("{0}")]
    Rule(TxError),
    /// Reading the sender's account at the head failed (the node's fault, not the
    /// transaction's).
    #[error("reading the state of {address} failed: {reason}")]
    State {
        /// The account.
        address: Address,
        /// The store's error.
        reason: String,
    },
}

impl PoolError {
    /// The JSON-RPC error code geth answers with: -32000 for all of them.
    pub const fn code(&self) -> i32 {
        GETH_DEFAULT_ERROR_CODE
    }

    /// Whether the transaction is at fault (rather than the pool's capacity or the store).
    pub const fn is_invalid(&self) -> bool {
        !matches!(
            self,
            Self::TxPoolFull
                | Self::Underpriced
                | Self::AccountLimitExceeded { .. }
                | Self::State { .. }
                | Self::AlreadyKnown
        )
    }
}

/// The execution crate's entry check, in geth's words where geth has the rule.
pub(crate) fn from_tx_error(error: TxError) -> PoolError {
    match error {
        TxError::TypeNotActive { tx_type, fork, .. } => PoolError::TypeNotSupported {
            detail: format!("type {tx_type} rejected, pool not yet in {fork}"),
        },
        TxError::TypeUnsupported { tx_type, .. } => PoolError::TypeNotSupported {
            detail: format!("tx type {tx_type} not supported by this pool"),
        },
        // geth's signers since 1.13: "%w: have %d want %d" (core/types/transaction_signing.go).
        TxError::ChainId { expected, found } => PoolError::InvalidSender {
            reason: format!("invalid chain id for signer: have {found} want {expected}"),
        },
        TxError::TooLarge { size, limit } => PoolError::OversizedData { size, limit },
        TxError::GasPriceNotEnabled { .. } => PoolError::GasPriceNotZero,
        other => PoolError::Rule(other),
    }
}
