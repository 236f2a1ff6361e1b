//! [`Executor`]: a block's transactions through revm on the parent's state, then the engine's
//! rewards and the withdrawals; the outcome ([`BlockOutcome`]) holds the receipts and the
//! state changes.

use std::collections::BTreeMap;

use alloy_consensus::{Eip658Value, ReceiptEnvelope, Transaction, TxEnvelope};
use alloy_eips::eip2718::{Encodable2718, Typed2718};
use alloy_primitives::{Address, B256, Bloom, U256};
use cachet_genesis::{Engine, Fork, Genesis};
use cachet_primitives::Header;
use cachet_state::{ChangeSet, StateError, StateView};
use revm::context::result::{EVMError, InvalidTransaction};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::ContextTr;
use revm::database::State;
use revm::database::states::bundle_state::BundleRetention;
use revm::database_interface::bal::EvmDatabaseError;
use revm::database_interface::{DatabaseCommitExt, WrapDatabaseRef};
use revm::primitives::hardfork::SpecId;
use revm::{Context, ExecuteCommitEvm, MainBuilder, MainContext};

use crate::body::Body;
use crate::changes::change_set;
use crate::db::{DbError, StateDb};
use crate::error::{BlockError, TxError, Unsupported};
use crate::receipts::{logs_bloom, receipt, receipts_root};
use crate::schedule::{Rewards, Schedule};

/// secp256k1n / 2: from Homestead on a signature's s must not exceed it (EIP-2).
const SECP256K1N_HALF: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);
/// Wei per gwei (withdrawal amounts are in gwei).
const GWEI: u128 = 1_000_000_000;

/// Ancestor hashes for BLOCKHASH (the node walks parent links, so side chains work).
pub trait BlockHashes {
    /// The hash of the ancestor with this number, `None` when there is none.
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError>;
}

/// The state root of the parent state plus a change set, for the receipts of blocks before
/// Byzantium (each holds the state root after its transaction). The node implements it with
/// its trie (`WorldState::commit_trie` on the parent's root); tests with a from-scratch root.
pub trait IntermediateRoots {
    /// The root of (the parent state the block executes on) + `changes`.
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    fn root_after(&self, changes: &ChangeSet) -> Result<B256, StateError>;
}

/// Executes blocks of one chain (built once from its genesis).
#[derive(Debug, Clone)]
pub struct Executor {
    pub(crate) schedule: Schedule,
}

/// What executing a block produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, of the transaction's type.
    pub receipts: Vec<ReceiptEnvelope>,
    /// Gas used by the block (the last receipt's cumulative gas).
    pub gas_used: u64,
    /// The OR of the receipts' blooms.
    pub logs_bloom: Bloom,
    /// The receipts' trie root.
    pub receipts_root: B256,
    /// Every account and slot the block changed, rewards and withdrawals included.
    pub changes: ChangeSet,
}

/// revm's view of the parent state for one block, recording the block's changes.
pub(crate) type BlockDb<'a> = State<WrapDatabaseRef<StateDb<'a>>>;

/// A [`BlockDb`] on `state`.
pub(crate) fn block_db<'a>(state: &'a dyn StateView, hashes: &'a dyn BlockHashes) -> BlockDb<'a> {
    State::builder()
        .with_database_ref(StateDb { state, hashes })
        .with_bundle_update()
        .build()
}

/// Gas of a plain transfer: a block with less left takes no more transactions (geth's
/// `params.TxGas`, the builder's stopping rule).
pub(crate) const TX_GAS: u64 = 21_000;

/// How [`Executor::execute_txs`] treats a transaction it cannot include.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A received block: the block is invalid.
    Import,
    /// A block being built: leave it (and its sender's later ones) out.
    Build,
}

/// The transactions executed for a block.
pub(crate) struct Executed {
    pub(crate) receipts: Vec<ReceiptEnvelope>,
    pub(crate) gas_used: u64,
    /// Indices (into the list given) of the transactions executed, in order.
    pub(crate) included: Vec<usize>,
}

/// One block's execution setup, shared by import and building.
pub(crate) struct BlockContext {
    header: Header,
    beneficiary: Address,
    spec: SpecId,
    post_merge: bool,
    block_env: BlockEnv,
    cfg: CfgEnv,
}

impl BlockContext {
    /// EIP-2 (low s) applies.
    fn homestead(&self) -> bool {
        self.spec.is_enabled_in(SpecId::HOMESTEAD)
    }

    /// The intermediate-root provider to use: only before Byzantium, where it is required
    /// when the block has transactions.
    pub(crate) fn roots<'r>(
        &self,
        roots: Option<&'r dyn IntermediateRoots>,
        has_transactions: bool,
    ) -> Result<Option<&'r dyn IntermediateRoots>, BlockError> {
        let pre_byzantium = !self.spec.is_enabled_in(SpecId::BYZANTIUM);
        match roots {
            Some(roots) if pre_byzantium => Ok(Some(roots)),
            None if pre_byzantium && has_transactions => {
                Err(BlockError::PreByzantiumTransactions {
                    number: self.header.number,
                })
            }
            _ => Ok(None),
        }
    }
}

impl Executor {
    /// Maps the genesis fork schedule to revm specs per block, with the engine's rewards and
    /// the permissioned-network limits (see `docs/dev/execution.md`).
    ///
    /// # Errors
    /// [`Unsupported`] naming the genesis key for what Cachet does not execute: Cancun and
    /// later, Constantinople without Petersburg, Shanghai on geth-family PoA engines, DAO fork
    /// support, Besu `zeroBaseFee`, GoQuorum reward transitions and privacy precompile, forks
    /// out of order, size limits outside GoQuorum's ranges.
    pub fn new(genesis: &Genesis) -> Result<Self, Unsupported> {
        Ok(Self {
            schedule: Schedule::new(genesis)?,
        })
    }

    /// Executes the block on the parent's post-state `state`. `beneficiary` is the block's
    /// author as the engine defines it (fee recipient, COINBASE); `senders` are
    /// [`crate::recover_senders`]'s output for `body.transactions`.
    ///
    /// # Errors
    /// [`BlockError`] naming the rule a transaction or the block breaks (and the transaction's
    /// index), [`BlockError::State`] when the store fails.
    pub fn execute(
        &self,
        header: &Header,
        beneficiary: Address,
        body: &Body,
        senders: &[Address],
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
    ) -> Result<BlockOutcome, BlockError> {
        self.run(header, beneficiary, body, senders, state, hashes, None)
    }

    /// [`Executor::execute`] for chains with blocks before Byzantium: `roots` computes the
    /// state root after each transaction for the receipts (only called for pre-Byzantium
    /// blocks, once per transaction).
    ///
    /// # Errors
    /// As [`Executor::execute`]; [`BlockError::State`] when `roots` fails.
    #[allow(
        clippy::too_many_arguments,
        reason = "execute's arguments plus the root provider"
    )]
    pub fn execute_with_roots(
        &self,
        header: &Header,
        beneficiary: Address,
        body: &Body,
        senders: &[Address],
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
        roots: &dyn IntermediateRoots,
    ) -> Result<BlockOutcome, BlockError> {
        self.run(
            header,
            beneficiary,
            body,
            senders,
            state,
            hashes,
            Some(roots),
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "execute's arguments plus the root provider"
    )]
    fn run(
        &self,
        header: &Header,
        beneficiary: Address,
        body: &Body,
        senders: &[Address],
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
        roots: Option<&dyn IntermediateRoots>,
    ) -> Result<BlockOutcome, BlockError> {
        if senders.len() != body.transactions.len() {
            return Err(BlockError::SendersMismatch {
                transactions: body.transactions.len(),
                senders: senders.len(),
            });
        }
        let block = self.block_context(header, beneficiary, body.withdrawals.is_some())?;
        let roots = block.roots(roots, !body.transactions.is_empty())?;
        for (index, tx) in body.transactions.iter().enumerate() {
            self.check_rules(tx, header.number, header.timestamp)
                .map_err(|source| BlockError::Transaction { index, source })?;
            if block.homestead() && tx.signature().s() > SECP256K1N_HALF {
                return Err(BlockError::HighS { index });
            }
        }
        let txs: Vec<(&TxEnvelope, Address)> = body
            .transactions
            .iter()
            .zip(senders.iter().copied())
            .collect();
        let mut db = block_db(state, hashes);
        let done = self.execute_txs(&block, &mut db, state, roots, &txs, Mode::Import)?;
        self.finish(&block, body, db, state, done.receipts, done.gas_used)
    }

    /// The revm spec of `header`'s block and whether it is post-merge (ethash, London,
    /// difficulty 0: proof of stake as geth decides it per block).
    fn spec_of(&self, header: &Header) -> (SpecId, bool) {
        let post_merge = self.schedule.engine == Engine::Ethash
            && header.difficulty.is_zero()
            && self
                .schedule
                .is_active(Fork::London, header.number, header.timestamp);
        (
            self.schedule
                .spec(header.number, header.timestamp, post_merge),
            post_merge,
        )
    }

    /// True when `header`'s block must carry withdrawals (Shanghai).
    pub(crate) fn withdrawals_active(&self, header: &Header) -> bool {
        self.spec_of(header).0.is_enabled_in(SpecId::SHANGHAI)
    }

    /// The block-wide setup shared by import and building: the revm spec, the block and
    /// configuration environments, and the fork checks on the body's shape.
    pub(crate) fn block_context(
        &self,
        header: &Header,
        beneficiary: Address,
        has_withdrawals: bool,
    ) -> Result<BlockContext, BlockError> {
        let number = header.number;
        let timestamp = header.timestamp;
        let (spec, post_merge) = self.spec_of(header);
        match (spec.is_enabled_in(SpecId::SHANGHAI), has_withdrawals) {
            (true, false) => {
                return Err(BlockError::WithdrawalsFork {
                    number,
                    found: "missing",
                });
            }
            (false, true) => {
                return Err(BlockError::WithdrawalsFork {
                    number,
                    found: "present",
                });
            }
            _ => {}
        }
        let basefee = match header.base_fee_per_gas {
            None => 0,
            Some(fee) => u64::try_from(fee).map_err(|_| BlockError::InvalidHeader {
                number,
                reason: format!("base fee {fee} does not fit in 64 bits"),
            })?,
        };
        let block_env = BlockEnv {
            number: U256::from(number),
            beneficiary,
            timestamp: U256::from(timestamp),
            gas_limit: header.gas_limit,
            basefee,
            difficulty: header.difficulty,
            prevrandao: spec.is_enabled_in(SpecId::MERGE).then_some(header.mix_hash),
            ..BlockEnv::default()
        };
        let mut cfg = CfgEnv::new_with_spec(spec);
        cfg.chain_id = self.schedule.chain_id;
        cfg.limit_contract_code_size = Some(self.schedule.code_size_limit(number));
        Ok(BlockContext {
            header: header.clone(),
            beneficiary,
            spec,
            post_merge,
            block_env,
            cfg,
        })
    }

    /// Runs `txs` in order on `db` (one EVM for the block). [`Mode::Import`]: any transaction
    /// that cannot be included fails the block. [`Mode::Build`]: such a transaction is left
    /// out with its sender's later ones, and the loop ends when less than a transfer's gas is
    /// left; the caller has checked nothing per transaction beforehand.
    pub(crate) fn execute_txs(
        &self,
        block: &BlockContext,
        db: &mut BlockDb<'_>,
        state: &dyn StateView,
        roots: Option<&dyn IntermediateRoots>,
        txs: &[(&TxEnvelope, Address)],
        mode: Mode,
    ) -> Result<Executed, BlockError> {
        let header = &block.header;
        let number = header.number;
        let mut done = Executed {
            receipts: Vec::with_capacity(txs.len()),
            gas_used: 0,
            included: Vec::with_capacity(txs.len()),
        };
        // Building an EVM costs more than an empty block's whole import: only with transactions.
        if txs.is_empty() {
            return Ok(done);
        }
        let mut skipped: Vec<Address> = Vec::new();
        let mut evm = Context::mainnet()
            .with_db(db)
            .with_cfg(block.cfg.clone())
            .with_block(block.block_env.clone())
            .build_mainnet();
        for (index, &(tx, sender)) in txs.iter().enumerate() {
            let available = header.gas_limit.saturating_sub(done.gas_used);
            if mode == Mode::Build {
                if available < TX_GAS {
                    break;
                }
                if skipped.contains(&sender) {
                    continue;
                }
                let fits = tx.gas_limit() <= available
                    && self.check_rules(tx, number, header.timestamp).is_ok()
                    && !(block.homestead() && tx.signature().s() > SECP256K1N_HALF);
                if !fits {
                    skipped.push(sender);
                    continue;
                }
            } else if tx.gas_limit() > available {
                return Err(BlockError::BlockGasExceeded {
                    index,
                    tx_gas: tx.gas_limit(),
                    available,
                });
            }
            let result = match evm.transact_commit(tx_env(tx, sender)) {
                Ok(result) => result,
                // revm refused it before touching the state (nonce, balance, fee cap, …):
                // `transact_commit` discards the journal, so leaving it out is clean. A nonce
                // below the sender's is a stale candidate (already included): only it is left
                // out, as geth's `commitTransactions` shifts past it.
                Err(EVMError::Transaction(InvalidTransaction::NonceTooLow { .. }))
                    if mode == Mode::Build =>
                {
                    continue;
                }
                Err(EVMError::Transaction(_)) if mode == Mode::Build => {
                    skipped.push(sender);
                    continue;
                }
                Err(e) => return Err(evm_error(e, index, number)),
            };
            done.gas_used = done.gas_used.saturating_add(result.tx_gas_used());
            let status = match roots {
                None => Eip658Value::Eip658(result.is_success()),
                Some(roots) => {
                    let db = evm.ctx.db_mut();
                    db.merge_transitions(BundleRetention::PlainState);
                    let changes = change_set(&db.bundle_state, state)?;
                    Eip658Value::PostState(
                        roots
                            .root_after(&changes)
                            .map_err(|source| BlockError::State { source })?,
                    )
                }
            };
            done.receipts.push(receipt(
                tx.tx_type(),
                status,
                done.gas_used,
                result.into_logs(),
            ));
            done.included.push(index);
        }
        Ok(done)
    }

    /// Rewards and withdrawals on top of the executed transactions, then the outcome.
    pub(crate) fn finish(
        &self,
        block: &BlockContext,
        body: &Body,
        mut db: BlockDb<'_>,
        state: &dyn StateView,
        receipts: Vec<ReceiptEnvelope>,
        gas_used: u64,
    ) -> Result<BlockOutcome, BlockError> {
        let increments = self.balance_increments(
            &block.header,
            block.beneficiary,
            body,
            block.spec,
            block.post_merge,
        );
        if !increments.is_empty() {
            db.increment_balances(increments).map_err(db_error)?;
        }
        db.merge_transitions(BundleRetention::PlainState);
        let bundle = db.take_bundle();
        let changes = change_set(&bundle, state)?;
        Ok(BlockOutcome {
            logs_bloom: logs_bloom(&receipts),
            receipts_root: receipts_root(&receipts),
            gas_used,
            receipts,
            changes,
        })
    }

    /// The pool's entry check: is this transaction's type allowed in a block with this number
    /// and timestamp, within the chain's size limit (GoQuorum `txnSizeLimit`, default 64 KiB
    /// on GoQuorum chains; geth's 128 KiB elsewhere), for this chain id, not a GoQuorum
    /// private transaction, and free of charge on a GoQuorum chain whose gas price is not
    /// enabled.
    ///
    /// # Errors
    /// [`TxError`] naming the rule.
    pub fn check_transaction(
        &self,
        tx: &TxEnvelope,
        number: u64,
        timestamp: u64,
    ) -> Result<(), TxError> {
        self.check_rules(tx, number, timestamp)?;
        let size = tx.encode_2718_len();
        let limit = self.schedule.txn_size_limit(number);
        if size > limit {
            return Err(TxError::TooLarge { size, limit });
        }
        Ok(())
    }

    /// The intrinsic gas of `tx` in a block with this number and timestamp (base cost, data,
    /// contract creation, access list; revm's own computation for the fork's spec), which the
    /// transaction's gas limit must cover.
    pub fn intrinsic_gas(&self, tx: &TxEnvelope, number: u64, timestamp: u64) -> u64 {
        let spec = self.schedule.spec(number, timestamp, false);
        revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx(
            tx_env(tx, Address::ZERO),
            spec,
            None,
        )
        .initial_regular_gas
    }

    /// The rules a transaction must meet in any block at this height: type active, chain id,
    /// EIP-155 active for replay-protected legacy transactions, not GoQuorum-private, no gas
    /// price on a GoQuorum chain before gas price is enabled.
    fn check_rules(&self, tx: &TxEnvelope, number: u64, timestamp: u64) -> Result<(), TxError> {
        // Specs are cumulative: a genesis with only `berlinBlock` (Besu) has EIP-155 and
        // EIP-2930 from there. Whether the block is post-merge does not matter for types.
        let spec = self.schedule.spec(number, timestamp, false);
        match tx {
            TxEnvelope::Legacy(_) => {
                if self.schedule.is_quorum && is_quorum_private(tx) {
                    return Err(TxError::PrivateTransaction);
                }
                let eip155 = self.schedule.is_active(Fork::Eip155, number, timestamp)
                    || spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
                if tx.chain_id().is_some() && !eip155 {
                    return Err(TxError::ReplayProtectionNotActive);
                }
            }
            TxEnvelope::Eip2930(_) if !spec.is_enabled_in(SpecId::BERLIN) => {
                return Err(TxError::TypeNotActive {
                    tx_type: 1,
                    name: "EIP-2930",
                    fork: "Berlin",
                });
            }
            TxEnvelope::Eip1559(_) if !spec.is_enabled_in(SpecId::LONDON) => {
                return Err(TxError::TypeNotActive {
                    tx_type: 2,
                    name: "EIP-1559",
                    fork: "London",
                });
            }
            TxEnvelope::Eip4844(_) => {
                return Err(TxError::TypeUnsupported {
                    tx_type: 3,
                    name: "EIP-4844",
                    reason: "blob transactions start at Cancun, which cachet does not execute",
                });
            }
            TxEnvelope::Eip7702(_) => {
                return Err(TxError::TypeUnsupported {
                    tx_type: 4,
                    name: "EIP-7702",
                    reason: "set-code transactions start at Prague, which cachet does not execute",
                });
            }
            TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
        }
        let gas_price = tx.max_fee_per_gas();
        if gas_price != 0 && !self.schedule.gas_price_enabled(number) {
            return Err(TxError::GasPriceNotEnabled { gas_price });
        }
        match tx.chain_id() {
            Some(found) if found != self.schedule.chain_id => Err(TxError::ChainId {
                expected: self.schedule.chain_id,
                found,
            }),
            _ => Ok(()),
        }
    }

    /// Block and ommer rewards (ethash before the merge, Besu BFT `blockreward`) and
    /// withdrawals, summed per address.
    fn balance_increments(
        &self,
        header: &Header,
        beneficiary: Address,
        body: &Body,
        spec: SpecId,
        post_merge: bool,
    ) -> BTreeMap<Address, u128> {
        let mut increments: BTreeMap<Address, u128> = BTreeMap::new();
        let mut add = |address: Address, amount: u128| {
            let entry = increments.entry(address).or_default();
            *entry = entry.saturating_add(amount);
        };
        match self.schedule.rewards {
            Rewards::Ethash if !post_merge => {
                let reward = Schedule::ethash_reward(spec);
                for ommer in &body.ommers {
                    // (8 + ommer - block) / 8 of the reward; the node's header checks keep the
                    // ommer within 6 generations, saturation only guards against a bug there.
                    let depth = header.number.saturating_sub(ommer.number);
                    let eighths = u128::from(8u64.saturating_sub(depth));
                    add(ommer.beneficiary, eighths * reward / 8);
                }
                let nephew = reward / 32 * body.ommers.len() as u128;
                add(beneficiary, reward.saturating_add(nephew));
            }
            Rewards::Bft {
                amount,
                beneficiary: fixed,
            } => add(fixed.unwrap_or(header.beneficiary), amount),
            Rewards::Ethash | Rewards::None => {}
        }
        for withdrawal in body.withdrawals.iter().flatten() {
            add(
                withdrawal.address,
                u128::from(withdrawal.amount).saturating_mul(GWEI),
            );
        }
        // Before EIP-158 a zero credit would create an empty account; geth never credits zero
        // there (rewards are positive, withdrawals start at Shanghai), so zero entries only
        // remain from Spurious Dragon on, where revm's touch semantics match geth's.
        if !spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) {
            increments.retain(|_, amount| *amount != 0);
        }
        increments
    }
}

impl BlockOutcome {
    /// Checks gasUsed, receiptsRoot and logsBloom against the header.
    ///
    /// # Errors
    /// [`BlockError::GasUsed`], [`BlockError::ReceiptsRoot`] or [`BlockError::LogsBloom`] with
    /// both values.
    pub fn check_against(&self, header: &Header) -> Result<(), BlockError> {
        if self.gas_used != header.gas_used {
            return Err(BlockError::GasUsed {
                header: header.gas_used,
                computed: self.gas_used,
            });
        }
        if self.receipts_root != header.receipts_root {
            return Err(BlockError::ReceiptsRoot {
                header: header.receipts_root,
                computed: self.receipts_root,
            });
        }
        if self.logs_bloom != header.logs_bloom {
            return Err(BlockError::LogsBloom {
                header: Box::new(header.logs_bloom),
                computed: Box::new(self.logs_bloom),
            });
        }
        Ok(())
    }
}

/// GoQuorum marks a private transaction with v = 37 or 38 (`types.Transaction.IsPrivate`).
/// alloy reads v = 37/38 as EIP-155 with chain id 1 (v = 35 + 2·1 + parity).
fn is_quorum_private(tx: &TxEnvelope) -> bool {
    matches!(tx, TxEnvelope::Legacy(_)) && tx.chain_id() == Some(1)
}

fn tx_env(tx: &TxEnvelope, caller: Address) -> TxEnv {
    TxEnv {
        tx_type: tx.ty(),
        caller,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        access_list: tx.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: tx.max_priority_fee_per_gas(),
        ..TxEnv::default()
    }
}

fn evm_error(error: EVMError<EvmDatabaseError<DbError>>, index: usize, number: u64) -> BlockError {
    match error {
        EVMError::Transaction(invalid) => BlockError::InvalidTransaction {
            index,
            reason: invalid.to_string(),
        },
        EVMError::Header(invalid) => BlockError::InvalidHeader {
            number,
            reason: invalid.to_string(),
        },
        EVMError::Database(e) => db_error(e),
        EVMError::Custom(what) => BlockError::Internal {
            what: format!("revm failed on transaction {index}: {what}"),
        },
        EVMError::CustomAny(what) => BlockError::Internal {
            what: format!("revm failed on transaction {index}: {what}"),
        },
    }
}

/// The store's error out of revm's wrapping.
fn db_error(error: EvmDatabaseError<DbError>) -> BlockError {
    match error {
        EvmDatabaseError::Database(DbError::State(source)) => BlockError::State { source },
        EvmDatabaseError::Database(DbError::MissingCode(hash)) => BlockError::State {
            source: StateError::Corrupt {
                what: format!("code {hash} is referenced by an account but missing"),
            },
        },
        EvmDatabaseError::Bal(e) => BlockError::Internal {
            what: format!("revm block access list error without a block access list: {e}"),
        },
    }
}
