//! `eth_call` and `eth_estimateGas`: one transaction request executed on a block's post-state
//! without committing anything, with geth's state overrides and geth's call semantics (no
//! nonce check, no EIP-3607 sender check, no block gas limit, no base fee check for a zero gas
//! price; the balance check stays: geth's `buyGas` refuses a call whose value plus gas × price
//! the sender cannot pay).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy_eips::eip2930::AccessList;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_trie::KECCAK_EMPTY;
use cachet_primitives::Header;
use cachet_state::{AccountInfo, StateError, StateView};
use revm::context::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction};
use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::database::CacheDB;
use revm::database_interface::WrapDatabaseRef;
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::{InstructionResult, Interpreter};
use revm::primitives::hardfork::SpecId;
use revm::{Context, ExecuteEvm, InspectEvm, Inspector, MainBuilder, MainContext};

use crate::db::{DbError, StateDb};
use crate::executor::{BlockHashes, Executor};

/// geth's `params.TxGas`: the cost of a plain transfer.
pub const TX_GAS: u64 = 21_000;
/// geth's `params.CallStipend`, added to the optimistic first guess of the estimator.
const CALL_STIPEND: u64 = 2_300;
/// Gas between two reads of the clock under a timeout. Every instruction that does not end its
/// frame costs gas, so this is at most as many instructions; a clock read costs about as much
/// as a few dozen of them.
const CLOCK_EVERY_GAS: u64 = 4096;

/// What bounds one `eth_call` / `eth_estimateGas`: geth's `--rpc.gascap` and
/// `--rpc.evmtimeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// The gas cap (0: none).
    pub gas_cap: u64,
    /// The wall-clock limit of the whole call (the estimator's runs share it); zero: none.
    pub timeout: Duration,
}

impl CallLimits {
    /// A gas cap and no timeout.
    #[must_use]
    pub const fn gas_cap(gas_cap: u64) -> Self {
        Self {
            gas_cap,
            timeout: Duration::ZERO,
        }
    }
}

/// A transaction request as `eth_call` / `eth_estimateGas` take it (geth's `TransactionArgs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// `from` (zero address when absent, as geth).
    pub from: Option<Address>,
    /// `to`; `None` creates a contract.
    pub to: Option<Address>,
    /// `gas`.
    pub gas: Option<u64>,
    /// `gasPrice` (legacy pricing).
    pub gas_price: Option<u128>,
    /// `maxFeePerGas`.
    pub max_fee_per_gas: Option<u128>,
    /// `maxPriorityFeePerGas`.
    pub max_priority_fee_per_gas: Option<u128>,
    /// `value`.
    pub value: Option<U256>,
    /// `input` (or `data`).
    pub input: Bytes,
    /// `nonce` (not checked: informational, as geth's `eth_call`).
    pub nonce: Option<u64>,
    /// `accessList`.
    pub access_list: Option<AccessList>,
}

/// One account's override (geth's `OverrideAccount`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountOverride {
    /// Replaces the balance.
    pub balance: Option<U256>,
    /// Replaces the nonce.
    pub nonce: Option<u64>,
    /// Replaces the code.
    pub code: Option<Bytes>,
    /// Replaces the whole storage: unlisted slots read zero.
    pub state: Option<BTreeMap<B256, B256>>,
    /// Replaces the listed slots only.
    pub state_diff: Option<BTreeMap<B256, B256>>,
}

/// geth's `stateOverride` object: address → override.
pub type StateOverride = BTreeMap<Address, AccountOverride>;

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The return data (or revert data).
    pub output: Bytes,
    /// Gas used after refunds.
    pub gas_used: u64,
    /// Gas refunded.
    pub refunded: u64,
    /// How it ended.
    pub status: CallStatus,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    /// Returned normally.
    Success,
    /// REVERT: `output` holds the revert data.
    Reverted,
    /// Halted with geth's error text (e.g. "out of gas").
    Halted {
        /// geth's `vm` error message.
        reason: String,
        /// Whether it ran out of gas (the estimator searches higher).
        out_of_gas: bool,
    },
}

/// Why a call could not run, or (estimateGas) why no gas limit works.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The request is invalid as a transaction (geth's message: "intrinsic gas too low: …",
    /// "insufficient funds for gas * price + value: …", "max fee per gas less than block base
    /// fee: …", …).
    #[error("{0}")]
    Invalid(String),
    /// The request is malformed (both gasPrice and EIP-1559 fees, both state and stateDiff).
    #[error("{0}")]
    Request(String),
    /// `eth_estimateGas`: the call reverts at the highest gas limit tried.
    #[error("execution reverted")]
    Reverted {
        /// The revert data.
        output: Bytes,
    },
    /// `eth_estimateGas`: the call fails at the highest gas limit tried for a reason other than
    /// running out of gas or a revert (geth's vm error text).
    #[error("{0}")]
    Halted(String),
    /// `eth_estimateGas`: even the allowance does not suffice (geth's message).
    #[error("gas required exceeds allowance ({0})")]
    GasRequiredExceedsAllowance(u64),
    /// `eth_estimateGas`: the value exceeds the sender's balance.
    #[error("insufficient funds for transfer")]
    InsufficientFundsForTransfer,
    /// The EVM was stopped at the timeout (geth's message, the timeout as Go prints it).
    #[error("execution aborted (timeout = {})", go_duration(*.0))]
    Timeout(Duration),
    /// Reading the state failed.
    #[error("reading the state failed")]
    State(#[source] StateError),
    /// revm failed in a way a valid request cannot cause.
    #[error("{0} (this is a bug in cachet)")]
    Internal(String),
}

/// The block a call runs in: its header (NUMBER, TIMESTAMP, BASEFEE, …; the state is this
/// block's post-state, as geth's `eth_call`) and its author (COINBASE: the clique signer).
#[derive(Debug, Clone, Copy)]
pub struct CallBlock<'a> {
    /// The header.
    pub header: &'a Header,
    /// COINBASE.
    pub author: Address,
}

/// A state view with geth's overrides applied on top.
struct Overridden<'a> {
    base: &'a dyn StateView,
    overrides: &'a StateOverride,
    /// Code hashes of overridden code.
    codes: BTreeMap<B256, Bytes>,
}

impl StateView for Overridden<'_> {
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError> {
        let base = self.base.account(address)?;
        let Some(o) = self.overrides.get(address) else {
            return Ok(base);
        };
        let mut info = base.unwrap_or_default();
        if let Some(balance) = o.balance {
            info.balance = balance;
        }
        if let Some(nonce) = o.nonce {
            info.nonce = nonce;
        }
        if let Some(code) = &o.code {
            info.code_hash = if code.is_empty() {
                KECCAK_EMPTY
            } else {
                keccak256(code)
            };
        }
        Ok(Some(info))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        let key = B256::from(slot.to_be_bytes::<32>());
        if let Some(o) = self.overrides.get(address) {
            if let Some(state) = &o.state {
                return Ok(state.get(&key).map_or(U256::ZERO, |v| (*v).into()));
            }
            if let Some(v) = o.state_diff.as_ref().and_then(|d| d.get(&key)) {
                return Ok((*v).into());
            }
        }
        self.base.storage(address, slot)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        match self.codes.get(code_hash) {
            Some(code) => Ok(Some(code.clone())),
            None => self.base.code(code_hash),
        }
    }
}

type CallDb<'a> = CacheDB<WrapDatabaseRef<StateDb<'a>>>;

/// A prepared call: the environment and the database, reused across the estimator's runs.
struct Prepared<'a> {
    cfg: CfgEnv,
    block: BlockEnv,
    tx: TxEnv,
    db: CallDb<'a>,
    /// The timeout and when it passes, `None` without one.
    deadline: Option<(Duration, Instant)>,
}

/// Halts the interpreter once the deadline passes (geth's `evm.Cancel()`). The clock is read
/// when the frame's remaining gas falls below `check_below` ([`CLOCK_EVERY_GAS`] after the last
/// read: one compare per instruction, the counter the interpreter keeps anyway), and at the
/// first instruction after a frame starts or ends (each frame has its own gas). Once expired it
/// halts every frame at its next instruction, so the callers of the frame it stopped stop too.
struct Deadline {
    at: Instant,
    check_below: u64,
    expired: bool,
}

impl Deadline {
    fn new(at: Instant) -> Self {
        Self {
            at,
            check_below: u64::MAX,
            expired: false,
        }
    }

    #[cold]
    #[inline(never)]
    fn check(&mut self, interp: &mut Interpreter) {
        if !self.expired {
            self.expired = Instant::now() >= self.at;
        }
        if self.expired {
            self.check_below = u64::MAX;
            interp.halt(InstructionResult::OutOfGas);
        } else {
            self.check_below = interp.gas.remaining().saturating_sub(CLOCK_EVERY_GAS);
        }
    }
}

impl<CTX, FI, FR> Inspector<CTX, EthInterpreter, FI, FR> for Deadline {
    #[inline]
    fn step(&mut self, interp: &mut Interpreter, _context: &mut CTX) {
        if interp.gas.remaining() < self.check_below {
            self.check(interp);
        }
    }

    fn frame_start(&mut self, _context: &mut CTX, _frame_input: &mut FI) -> Option<FR> {
        self.check_below = u64::MAX;
        None
    }

    fn frame_end(&mut self, _context: &mut CTX, _frame_input: &FI, _frame_result: &mut FR) {
        self.check_below = u64::MAX;
    }
}

impl Executor {
    /// Executes `request` on `state` (the post-state of `block`) with `overrides`, as geth's
    /// `eth_call`: the gas limit is the request's, capped at `limits.gas_cap` (0: no cap), or
    /// the cap when absent; the EVM stops at `limits.timeout`. Nothing is written.
    ///
    /// # Errors
    /// [`CallError::Invalid`] / [`CallError::Request`] for a request geth refuses too,
    /// [`CallError::State`] when the store fails, [`CallError::Timeout`].
    pub fn call(
        &self,
        block: CallBlock<'_>,
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
        request: &CallRequest,
        overrides: &StateOverride,
        limits: CallLimits,
    ) -> Result<CallOutcome, CallError> {
        let deadline = deadline(limits.timeout);
        let gas_cap = limits.gas_cap;
        let gas = match request.gas {
            None if gas_cap == 0 => u64::MAX / 2,
            None => gas_cap,
            Some(g) if gas_cap != 0 && g > gas_cap => gas_cap,
            Some(g) => g,
        };
        let view = overridden(state, overrides)?;
        let mut prepared = self.prepare(block, &view, hashes, request, deadline)?;
        run(&mut prepared, gas)
    }

    /// The lowest gas limit with which `request` succeeds, searched as geth's estimator: the
    /// upper bound is the request's gas (else the block's gas limit), lowered to what the
    /// sender's balance pays at the request's fee cap, and to `limits.gas_cap` (0: no cap). All
    /// runs together stop at `limits.timeout`.
    ///
    /// # Errors
    /// [`CallError::Reverted`] / [`CallError::Halted`] when the call fails at the upper bound
    /// for a reason other than gas, [`CallError::GasRequiredExceedsAllowance`] when it runs out
    /// of gas there, [`CallError::InsufficientFundsForTransfer`], and as [`Self::call`].
    pub fn estimate_gas(
        &self,
        block: CallBlock<'_>,
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
        request: &CallRequest,
        overrides: &StateOverride,
        limits: CallLimits,
    ) -> Result<u64, CallError> {
        let deadline = deadline(limits.timeout);
        let gas_cap = limits.gas_cap;
        let view = overridden(state, overrides)?;
        let mut hi = match request.gas {
            Some(g) if g >= TX_GAS => g,
            _ => block.header.gas_limit,
        };
        let fee_cap = request
            .gas_price
            .or(request.max_fee_per_gas)
            .unwrap_or_default();
        let from = request.from.unwrap_or_default();
        if fee_cap != 0 {
            let balance = view
                .account(&from)
                .map_err(CallError::State)?
                .map(|a| a.balance)
                .unwrap_or_default();
            let value = request.value.unwrap_or_default();
            let available = balance
                .checked_sub(value)
                .ok_or(CallError::InsufficientFundsForTransfer)?;
            let allowance = available / U256::from(fee_cap);
            if U256::from(hi) > allowance {
                hi = allowance.saturating_to();
            }
        }
        if gas_cap != 0 && hi > gas_cap {
            hi = gas_cap;
        }
        let mut prepared = self.prepare(block, &view, hashes, request, deadline)?;
        // A plain transfer to an account without code costs exactly TX_GAS (geth's shortcut).
        if let Some(to) = request.to
            && request.input.is_empty()
        {
            let code = view
                .account(&to)
                .map_err(CallError::State)?
                .map_or(KECCAK_EMPTY, |a| a.code_hash);
            if code == KECCAK_EMPTY && hi >= TX_GAS {
                let outcome = run_estimate(&mut prepared, TX_GAS)?;
                if outcome
                    .as_ref()
                    .is_some_and(|o| o.status == CallStatus::Success)
                {
                    return Ok(TX_GAS);
                }
            }
        }
        let first = run_estimate(&mut prepared, hi)?;
        let first = match first {
            Some(o) if o.status == CallStatus::Success => o,
            Some(CallOutcome {
                status: CallStatus::Reverted,
                output,
                ..
            }) => return Err(CallError::Reverted { output }),
            Some(CallOutcome {
                status:
                    CallStatus::Halted {
                        reason,
                        out_of_gas: false,
                    },
                ..
            }) => return Err(CallError::Halted(reason)),
            _ => return Err(CallError::GasRequiredExceedsAllowance(hi)),
        };
        // Below what the successful run used cannot succeed.
        let mut lo = first.gas_used.saturating_sub(1);
        let optimistic = first
            .gas_used
            .saturating_add(first.refunded)
            .saturating_add(CALL_STIPEND)
            .saturating_mul(64)
            / 63;
        if optimistic < hi {
            if succeeds(run_estimate(&mut prepared, optimistic)?) {
                hi = optimistic;
            } else {
                lo = optimistic;
            }
        }
        while lo.saturating_add(1) < hi {
            let mid = lo + (hi - lo) / 2;
            if succeeds(run_estimate(&mut prepared, mid)?) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    fn prepare<'a>(
        &self,
        block: CallBlock<'_>,
        view: &'a Overridden<'a>,
        hashes: &'a dyn BlockHashes,
        request: &CallRequest,
        deadline: Option<(Duration, Instant)>,
    ) -> Result<Prepared<'a>, CallError> {
        let header = block.header;
        if request.gas_price.is_some()
            && (request.max_fee_per_gas.is_some() || request.max_priority_fee_per_gas.is_some())
        {
            return Err(CallError::Request(
                "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into(),
            ));
        }
        let spec = self.schedule.spec(header.number, header.timestamp, false);
        let london = spec.is_enabled_in(SpecId::LONDON);
        let mut cfg = CfgEnv::new_with_spec(spec);
        cfg.chain_id = self.schedule.chain_id;
        cfg.limit_contract_code_size = Some(self.schedule.code_size_limit(header.number));
        cfg.disable_nonce_check = true;
        cfg.disable_eip3607 = true;
        cfg.disable_block_gas_limit = true;
        let (tx_type, gas_price, priority) = match (
            request.gas_price,
            request.max_fee_per_gas,
            request.max_priority_fee_per_gas,
        ) {
            (Some(price), ..) => (legacy_type(request), price, None),
            (None, None, None) => (legacy_type(request), 0, None),
            (None, cap, tip) if london => {
                let cap = cap.unwrap_or_default();
                let tip = tip.unwrap_or_default();
                if tip > cap {
                    return Err(CallError::Invalid(format!(
                        "max priority fee per gas higher than max fee per gas: address {}, maxPriorityFeePerGas: {tip}, maxFeePerGas: {cap}",
                        request.from.unwrap_or_default()
                    )));
                }
                (2, cap, Some(tip))
            }
            (None, cap, _) => (legacy_type(request), cap.unwrap_or_default(), None),
        };
        let mut basefee = match header.base_fee_per_gas {
            None => 0,
            Some(fee) => u64::try_from(fee).map_err(|_| {
                CallError::Internal(format!("base fee {fee} does not fit in 64 bits"))
            })?,
        };
        // geth: a call that pays nothing runs without the base fee check, and BASEFEE reads 0.
        if gas_price == 0 && priority.unwrap_or_default() == 0 {
            cfg.disable_base_fee = true;
            basefee = 0;
        }
        let block_env = BlockEnv {
            number: U256::from(header.number),
            beneficiary: block.author,
            timestamp: U256::from(header.timestamp),
            gas_limit: header.gas_limit,
            basefee,
            difficulty: header.difficulty,
            prevrandao: spec.is_enabled_in(SpecId::MERGE).then_some(header.mix_hash),
            ..BlockEnv::default()
        };
        let tx = TxEnv {
            tx_type,
            caller: request.from.unwrap_or_default(),
            gas_limit: 0,
            gas_price,
            kind: request.to.map_or(TxKind::Create, TxKind::Call),
            value: request.value.unwrap_or_default(),
            data: request.input.clone(),
            nonce: request.nonce.unwrap_or_default(),
            // Typed transactions carry the chain id (revm requires it); legacy calls none.
            chain_id: (tx_type != 0).then_some(self.schedule.chain_id),
            access_list: request.access_list.clone().unwrap_or_default(),
            gas_priority_fee: priority,
            ..TxEnv::default()
        };
        Ok(Prepared {
            cfg,
            block: block_env,
            tx,
            db: CacheDB::new(WrapDatabaseRef(StateDb {
                state: view,
                hashes,
            })),
            deadline,
        })
    }
}

/// The deadline of a call starting now under `timeout` (zero: none).
fn deadline(timeout: Duration) -> Option<(Duration, Instant)> {
    (!timeout.is_zero()).then(|| (timeout, Instant::now() + timeout))
}

/// A duration as Go's `time.Duration.String` prints it ("5s", "200ms", "1m30s", "1.5µs").
fn go_duration(d: Duration) -> String {
    fn trimmed(whole: u128, frac: u128, digits: usize, unit: &str) -> String {
        let frac = format!("{frac:0digits$}");
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            format!("{whole}{unit}")
        } else {
            format!("{whole}.{frac}{unit}")
        }
    }
    let ns = d.as_nanos();
    match ns {
        0 => "0s".into(),
        1..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => trimmed(ns / 1_000, ns % 1_000, 3, "µs"),
        1_000_000..1_000_000_000 => trimmed(ns / 1_000_000, ns % 1_000_000, 6, "ms"),
        _ => {
            let secs = trimmed((ns / 1_000_000_000) % 60, ns % 1_000_000_000, 9, "s");
            let mins = ns / 60_000_000_000;
            match (mins / 60, mins % 60) {
                (0, 0) => secs,
                (0, m) => format!("{m}m{secs}"),
                (h, m) => format!("{h}h{m}m{secs}"),
            }
        }
    }
}

fn legacy_type(request: &CallRequest) -> u8 {
    u8::from(request.access_list.is_some())
}

fn overridden<'a>(
    state: &'a dyn StateView,
    overrides: &'a StateOverride,
) -> Result<Overridden<'a>, CallError> {
    let mut codes = BTreeMap::new();
    for (address, o) in overrides {
        if o.state.is_some() && o.state_diff.is_some() {
            return Err(CallError::Request(format!(
                "account {address} has both 'state' and 'stateDiff'"
            )));
        }
        if let Some(code) = o.code.as_ref().filter(|c| !c.is_empty()) {
            codes.insert(keccak256(code), code.clone());
        }
    }
    Ok(Overridden {
        base: state,
        overrides,
        codes,
    })
}

fn succeeds(outcome: Option<CallOutcome>) -> bool {
    outcome.is_some_and(|o| o.status == CallStatus::Success)
}

/// A run for the estimator: a limit below the intrinsic gas is a failure to search past, not
/// an error (geth's estimator does the same).
fn run_estimate(prepared: &mut Prepared<'_>, gas: u64) -> Result<Option<CallOutcome>, CallError> {
    match run(prepared, gas) {
        Ok(outcome) => Ok(Some(outcome)),
        Err(CallError::Invalid(m)) if m.starts_with("intrinsic gas too low") => Ok(None),
        Err(e) => Err(e),
    }
}

fn run(prepared: &mut Prepared<'_>, gas: u64) -> Result<CallOutcome, CallError> {
    let mut tx = prepared.tx.clone();
    tx.gas_limit = gas;
    let caller = tx.caller;
    let context = Context::mainnet()
        .with_db(&mut prepared.db)
        .with_cfg(prepared.cfg.clone())
        .with_block(prepared.block.clone());
    // Without a timeout, the plain interpreter loop: no inspector hook per instruction.
    let result = match prepared.deadline {
        None => context.build_mainnet().transact(tx),
        Some((timeout, at)) => {
            if Instant::now() >= at {
                return Err(CallError::Timeout(timeout));
            }
            let mut deadline = Deadline::new(at);
            let result = context
                .build_mainnet_with_inspector(&mut deadline)
                .inspect_tx(tx);
            if deadline.expired {
                return Err(CallError::Timeout(timeout));
            }
            result
        }
    };
    let result = result.map_err(|e| call_error(e, caller))?.result;
    let gas_used = result.tx_gas_used();
    let refunded = result.gas().final_refunded();
    Ok(match result {
        ExecutionResult::Success { output, .. } => CallOutcome {
            output: output.into_data(),
            gas_used,
            refunded,
            status: CallStatus::Success,
        },
        ExecutionResult::Revert { output, .. } => CallOutcome {
            output,
            gas_used,
            refunded,
            status: CallStatus::Reverted,
        },
        ExecutionResult::Halt { reason, .. } => CallOutcome {
            output: Bytes::new(),
            gas_used,
            refunded,
            status: CallStatus::Halted {
                out_of_gas: matches!(reason, HaltReason::OutOfGas(_)),
                reason: halt_message(&reason),
            },
        },
    })
}

/// geth's `core/vm` error text for a halt.
fn halt_message(reason: &HaltReason) -> String {
    match reason {
        HaltReason::OutOfGas(_) => "out of gas".into(),
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode | HaltReason::NotActivated => {
            "invalid opcode".into()
        }
        HaltReason::InvalidJump => "invalid jump destination".into(),
        HaltReason::StackUnderflow => "stack underflow".into(),
        HaltReason::StackOverflow => "stack limit reached 1024 (1023)".into(),
        HaltReason::OutOfOffset => "return data out of bounds".into(),
        HaltReason::CreateCollision => "contract address collision".into(),
        HaltReason::CreateContractSizeLimit => "max code size exceeded".into(),
        HaltReason::CreateContractStartingWithEF => "invalid code: must not begin with 0xef".into(),
        HaltReason::CreateInitCodeSizeLimit => "max initcode size exceeded".into(),
        HaltReason::StateChangeDuringStaticCall | HaltReason::CallNotAllowedInsideStatic => {
            "write protection".into()
        }
        HaltReason::OutOfFunds => "insufficient balance for transfer".into(),
        HaltReason::CallTooDeep => "max call depth exceeded".into(),
        HaltReason::NonceOverflow => "nonce uint64 overflow".into(),
        other => other.to_string(),
    }
}

fn call_error(e: EVMError<DbError>, from: Address) -> CallError {
    match e {
        EVMError::Transaction(invalid) => CallError::Invalid(invalid_message(&invalid, from)),
        EVMError::Database(DbError::State(e)) => CallError::State(e),
        EVMError::Database(DbError::MissingCode(hash)) => CallError::State(StateError::Corrupt {
            what: format!("code {hash} is referenced by an account but missing"),
        }),
        other => CallError::Internal(other.to_string()),
    }
}

/// geth's `core` error text for a transaction it refuses before execution.
fn invalid_message(invalid: &InvalidTransaction, from: Address) -> String {
    match invalid {
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => format!(
            "insufficient funds for gas * price + value: address {from} have {balance} want {fee}"
        ),
        InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        } => format!("intrinsic gas too low: have {gas_limit}, want {initial_gas}"),
        InvalidTransaction::GasPriceLessThanBasefee => {
            format!("max fee per gas less than block base fee: address {from}")
        }
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => {
            format!("max priority fee per gas higher than max fee per gas: address {from}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        // Go's time.Duration.String of the same values.
        for (d, go) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(15), "15ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(200), "200ms"),
            (Duration::from_micros(2_500), "2.5ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3_600), "1h0m0s"),
            (Duration::from_secs(3_723), "1h2m3s"),
        ] {
            assert_eq!(go_duration(d), go, "{d:?}");
        }
    }
}
