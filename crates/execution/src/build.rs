//! Block building: the block producers' side of [`Executor::execute`]. Candidates are
//! executed one by one with the import path's own loop ([`Executor::execute`] and
//! [`Executor::build`] share the EVM setup and the per-transaction rules); a candidate that
//! cannot be included is left out with its sender's later ones (one whose nonce is below the
//! sender's, already included, is left out alone, as geth does), and building stops when less
//! than a transfer's gas (21000) is left. The outcome is exactly what executing the built body
//! gives, so the producer computes the state root once from its change set.

use alloy_consensus::TxEnvelope;
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::Address;
use alloy_rlp::Encodable;
use cachet_primitives::Header;
use cachet_primitives::rlp;
use cachet_state::StateView;

use crate::body::Body;
use crate::error::BlockError;
use crate::executor::{BlockHashes, BlockOutcome, Executor, IntermediateRoots, Mode, block_db};

/// A transaction offered to a block producer, with its recovered sender.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its sender (recovered from the signature).
    pub sender: Address,
}

/// A built block body and what executing it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The body: the included transactions in order, no ommers, and an empty withdrawals list
    /// from Shanghai on.
    pub body: Body,
    /// The included transactions' senders, in order.
    pub senders: Vec<Address>,
    /// Receipts, gas used, bloom, receipts root and change set, as
    /// [`Executor::execute`] computes them for [`Self::body`].
    pub outcome: BlockOutcome,
}

impl Built {
    /// The body's RLP as blocks carry it: `[txs, ommers]`, or `[txs, ommers, withdrawals]`
    /// from Shanghai on; each transaction in its EIP-2718 network form.
    pub fn body_rlp(&self) -> Vec<u8> {
        encode_body(&self.body)
    }
}

/// RLP of a body with no ommers (what a producer builds).
fn encode_body(body: &Body) -> Vec<u8> {
    let mut txs = Vec::new();
    for tx in &body.transactions {
        tx.encode(&mut txs);
    }
    let mut payload = rlp::list(&txs);
    let ommers: Vec<u8> = body.ommers.iter().flat_map(Header::encode).collect();
    payload.extend_from_slice(&rlp::list(&ommers));
    if let Some(withdrawals) = &body.withdrawals {
        let mut items = Vec::new();
        for w in withdrawals {
            w.encode(&mut items);
        }
        payload.extend_from_slice(&rlp::list(&items));
    }
    rlp::list(&payload)
}

impl Executor {
    /// Builds the body of the unsealed block `header` (number, timestamp, gas limit, base fee,
    /// difficulty and mixHash set) authored by `beneficiary` (the fee recipient, COINBASE) on
    /// the parent's post-state: executes `candidates` in order, leaves out a candidate that
    /// breaks a rule (type not active, chain id, nonce gap, balance, fee cap below the base
    /// fee, more gas than the block has left, …) together with its sender's later candidates
    /// (a nonce below the sender's: only that candidate), and stops when less than 21000 gas
    /// is left. Before Byzantium, where receipts hold
    /// intermediate state roots, nothing is included (use [`Self::build_with_roots`]).
    ///
    /// # Errors
    /// [`BlockError::State`] when the store fails, [`BlockError::InvalidHeader`] for a base
    /// fee that does not fit 64 bits; never for a candidate.
    pub fn build(
        &self,
        header: &Header,
        beneficiary: Address,
        candidates: &[Candidate],
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
    ) -> Result<Built, BlockError> {
        self.build_inner(header, beneficiary, candidates, state, hashes, None)
    }

    /// [`Self::build`] for chains with blocks before Byzantium: `roots` gives the state root
    /// after each transaction (only asked for pre-Byzantium blocks).
    ///
    /// # Errors
    /// As [`Self::build`]; [`BlockError::State`] when `roots` fails.
    pub fn build_with_roots(
        &self,
        header: &Header,
        beneficiary: Address,
        candidates: &[Candidate],
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
        roots: &dyn IntermediateRoots,
    ) -> Result<Built, BlockError> {
        self.build_inner(header, beneficiary, candidates, state, hashes, Some(roots))
    }

    fn build_inner(
        &self,
        header: &Header,
        beneficiary: Address,
        candidates: &[Candidate],
        state: &dyn StateView,
        hashes: &dyn BlockHashes,
        roots: Option<&dyn IntermediateRoots>,
    ) -> Result<Built, BlockError> {
        let shanghai = self.withdrawals_active(header);
        let block = self.block_context(header, beneficiary, shanghai)?;
        // Pre-Byzantium without roots: an empty block (executing one needs no roots).
        let candidates = match block.roots(roots, !candidates.is_empty()) {
            Ok(_) => candidates,
            Err(BlockError::PreByzantiumTransactions { .. }) => &[],
            Err(e) => return Err(e),
        };
        let roots = block.roots(roots, false)?;
        let txs: Vec<(&TxEnvelope, Address)> =
            candidates.iter().map(|c| (&c.tx, c.sender)).collect();
        let mut db = block_db(state, hashes);
        let done = self.execute_txs(&block, &mut db, state, roots, &txs, Mode::Build)?;
        let mut body = Body {
            transactions: Vec::with_capacity(done.included.len()),
            ommers: Vec::new(),
            withdrawals: shanghai.then(Vec::<Withdrawal>::new),
        };
        let mut senders = Vec::with_capacity(done.included.len());
        for index in &done.included {
            if let Some(c) = candidates.get(*index) {
                body.transactions.push(c.tx.clone());
                senders.push(c.sender);
            }
        }
        let outcome = self.finish(&block, &body, db, state, done.receipts, done.gas_used)?;
        Ok(Built {
            body,
            senders,
            outcome,
        })
    }
}
