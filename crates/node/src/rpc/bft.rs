//! Validator votes and sets of the IBFT family over JSON-RPC: GoQuorum's `istanbul_*`
//! (`consensus/istanbul/backend/api.go`) and Besu's `qbft_*` (`consensus/qbft/jsonrpc/methods`)
//! names, with their results. Votes go into the node's pending-proposal map
//! ([`RpcContext::proposals`], the one `clique_propose` fills on clique chains), from which the
//! QBFT driver puts one into each block it proposes.
//!
//! Which set a method answers differs between the two clients, and each is kept:
//! GoQuorum's `istanbul_getValidators(n)` is the set **after** block `n` (its snapshot at `n`,
//! the one block `n + 1` is sealed under); Besu's `qbft_getValidatorsByBlockNumber(n)` is the
//! set block `n` lists in extraData (the one it was sealed under), and `"pending"` the set
//! after the head.

use alloy_primitives::{Address, B256};
use cachet_seal::Header;
use jsonrpsee::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Value, json};

use super::json::{SERVER_ERROR, arg_address, arg_block_number, arg_hash, err, invalid};
use super::{RpcContext, internal, reg};
use crate::bft::BftRules;
use crate::chain::decode_header;
use crate::error::Result;

/// Addresses as both clients print them: lowercase `0x` hex.
fn addr(a: &Address) -> Value {
    Value::String(format!("{a:#x}"))
}

fn list(v: &[Address]) -> Value {
    Value::Array(v.iter().map(addr).collect())
}

fn rules<'a>(c: &'a RpcContext, method: &str) -> Result<&'a BftRules, ErrorObjectOwned> {
    c.chain.rules_as::<BftRules>().ok_or_else(|| {
        err(
            SERVER_ERROR,
            format!(
                "this chain runs {}: {method} answers on IBFT and QBFT chains (clique: use clique_getSigners; raft and ethash have no validators)",
                c.chain.engine()
            ),
        )
    })
}

fn header_at_hash(c: &RpcContext, hash: &B256) -> Result<Option<Header>, ErrorObjectOwned> {
    c.chain
        .header_rlp_by_hash(hash)
        .map_err(|e| internal(&e))?
        .map(|rlp| decode_header(&rlp).map_err(|e| internal(&e)))
        .transpose()
}

/// The validators block `header` lists in extraData (the set it was sealed under), sorted.
fn listed(rules: &BftRules, header: &Header) -> Result<Vec<Address>, ErrorObjectOwned> {
    let engine = rules.params().engine_at(header.number);
    let mut v = cachet_seal::bft::format(engine)
        .ok_or_else(|| err(SERVER_ERROR, format!("{engine} has no validator list")))?
        .validators(&header.extra_data)
        .map_err(|e| err(SERVER_ERROR, format!("block {}: {e}", header.number)))?;
    v.sort();
    Ok(v)
}

/// The set after block `hash` (number `number`): its kept snapshot, else what its canonical
/// child lists (import checks the child lists exactly that set).
fn after(
    c: &RpcContext,
    rules: &BftRules,
    hash: &B256,
    number: u64,
) -> Result<Vec<Address>, ErrorObjectOwned> {
    if let Some(s) = rules.snapshot(hash) {
        return Ok(s.validator_list());
    }
    let child = c
        .chain
        .header_rlp_by_number(number.saturating_add(1))
        .map_err(|e| internal(&e))?
        .map(|rlp| decode_header(&rlp).map_err(|e| internal(&e)))
        .transpose()?
        .filter(|h| h.parent_hash == *hash);
    match child {
        Some(h) => listed(rules, &h),
        None => Err(err(
            SERVER_ERROR,
            format!(
                "no validator snapshot kept for block {number} ({hash}): the node keeps the 256 blocks below the head"
            ),
        )),
    }
}

fn canonical(c: &RpcContext, number: u64) -> Result<Option<B256>, ErrorObjectOwned> {
    c.chain
        .store()
        .canonical_hash(number)
        .map_err(|e| internal(&e))
}

fn unknown_block() -> ErrorObjectOwned {
    // GoQuorum's `errUnknownBlock` text.
    err(SERVER_ERROR, "unknown block")
}

fn arg_bool(a: &[Value], i: usize, what: &str) -> Result<bool, ErrorObjectOwned> {
    a.get(i)
        .and_then(Value::as_bool)
        .ok_or_else(|| invalid(format!("parameter {i} must be a boolean ({what})")))
}

fn pending_votes(c: &RpcContext) -> Value {
    let p = c
        .proposals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut entries: Vec<_> = p.iter().collect();
    entries.sort();
    Value::Object(
        entries
            .into_iter()
            .map(|(a, b)| (format!("{a:#x}"), Value::Bool(*b)))
            .collect(),
    )
}

fn propose(c: &RpcContext, a: &[Value], method: &str) -> Result<(), ErrorObjectOwned> {
    rules(c, method)?;
    let target = arg_address(a, 0)?;
    let auth = arg_bool(a, 1, "true to add, false to drop")?;
    c.proposals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(target, auth);
    Ok(())
}

fn discard(c: &RpcContext, a: &[Value], method: &str) -> Result<(), ErrorObjectOwned> {
    rules(c, method)?;
    let target = arg_address(a, 0)?;
    c.proposals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&target);
    Ok(())
}

/// Registers the `istanbul_*` and `qbft_*` validator methods.
///
/// # Errors
/// A duplicate method name (a bug).
pub(super) fn register(m: &mut RpcModule<RpcContext>) -> Result<()> {
    // GoQuorum: the snapshot at block n (latest when absent), i.e. the set after it.
    reg(m, "istanbul_getValidators", |c, a| {
        let r = rules(c, "istanbul_getValidators")?;
        let n = arg_block_number(&c.chain, a, 0)?;
        let hash = canonical(c, n)?.ok_or_else(unknown_block)?;
        Ok(list(&after(c, r, &hash, n)?))
    })?;
    reg(m, "istanbul_getValidatorsAtHash", |c, a| {
        let r = rules(c, "istanbul_getValidatorsAtHash")?;
        let hash = arg_hash(a, 0)?;
        let h = header_at_hash(c, &hash)?.ok_or_else(unknown_block)?;
        Ok(list(&after(c, r, &hash, h.number)?))
    })?;
    reg(m, "istanbul_candidates", |c, _| {
        rules(c, "istanbul_candidates")?;
        Ok(pending_votes(c))
    })?;
    reg(m, "istanbul_propose", |c, a| {
        propose(c, a, "istanbul_propose").map(|()| Value::Null)
    })?;
    reg(m, "istanbul_discard", |c, a| {
        discard(c, a, "istanbul_discard").map(|()| Value::Null)
    })?;
    // Besu: the set block n lists; "pending": the set after the head; an unknown block: null.
    reg(m, "qbft_getValidatorsByBlockNumber", |c, a| {
        let r = rules(c, "qbft_getValidatorsByBlockNumber")?;
        if a.first().and_then(Value::as_str) == Some("pending") {
            let head = c.chain.head();
            return Ok(list(&after(c, r, &head.hash, head.header.number)?));
        }
        let n = arg_block_number(&c.chain, a, 0)?;
        match c.chain.header_rlp_by_number(n).map_err(|e| internal(&e))? {
            Some(rlp) => Ok(list(&listed(
                r,
                &decode_header(&rlp).map_err(|e| internal(&e))?,
            )?)),
            None => Ok(Value::Null),
        }
    })?;
    reg(m, "qbft_getValidatorsByBlockHash", |c, a| {
        let r = rules(c, "qbft_getValidatorsByBlockHash")?;
        match header_at_hash(c, &arg_hash(a, 0)?)? {
            Some(h) => Ok(list(&listed(r, &h)?)),
            None => Ok(Value::Null),
        }
    })?;
    reg(m, "qbft_getPendingVotes", |c, _| {
        rules(c, "qbft_getPendingVotes")?;
        Ok(pending_votes(c))
    })?;
    reg(m, "qbft_proposeValidatorVote", |c, a| {
        propose(c, a, "qbft_proposeValidatorVote").map(|()| json!(true))
    })?;
    reg(m, "qbft_discardValidatorVote", |c, a| {
        discard(c, a, "qbft_discardValidatorVote").map(|()| json!(true))
    })?;
    Ok(())
}
