//! GoQuorum's `raft` namespace (`raft/api.go`; `docs/dev/raft.md`, "RPCs"), answered from the
//! raft cluster member's driver: `raft_role`, `raft_leader`, `raft_cluster` read its status;
//! `raft_addPeer`, `raft_addLearner`, `raft_promoteToPeer`, `raft_removePeer` are carried out
//! by the driver, on the leader only (a follower answers with the rule naming the leader).

use std::time::Duration;

use cachet_devp2p::net::{Enode, PeerId};
use cachet_raft::{Role, StateRole};
use jsonrpsee::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Value, json};

use super::json::{SERVER_ERROR, arg_str, err, invalid};
use super::{RpcContext, reg, reg_blocking};
use crate::error::Result;
use crate::raft_cluster::{MembershipCall, RaftHandle, RaftStatus};

/// How long a membership call waits for the driver.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

fn handle(c: &RpcContext) -> std::result::Result<&RaftHandle, ErrorObjectOwned> {
    c.raft.as_ref().ok_or_else(|| {
        err(
            SERVER_ERROR,
            "raft is not running: this node is not a raft cluster member (a raft chain with the founders in <datadir>/static-nodes.json)",
        )
    })
}

/// GoQuorum's role names: `minter` (the leader), `learner`, `verifier`.
pub(super) fn role_name(s: &RaftStatus, id: u64) -> &'static str {
    let leads = if id == s.id {
        s.role == Some(StateRole::Leader)
    } else {
        id == s.leader
    };
    if leads {
        return "minter";
    }
    let role = s.members.iter().find(|(m, _, _)| *m == id).map(|m| m.2);
    match role {
        Some(Role::Learner) => "learner",
        _ => "verifier",
    }
}

fn node_id(key: &secp256k1::PublicKey) -> String {
    PeerId::from_public_key(key).to_string()
}

fn arg_enode(a: &[Value]) -> std::result::Result<Enode, ErrorObjectOwned> {
    let url = arg_str(a, 0, "enode")?;
    url.parse()
        .map_err(|e: cachet_primitives::DecodeError| invalid(format!("invalid enode: {e}")))
}

fn arg_raft_id(a: &[Value]) -> std::result::Result<u64, ErrorObjectOwned> {
    let id = match a.first() {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => super::json::parse_quantity(s).or_else(|| s.parse().ok()),
        _ => None,
    };
    id.filter(|id| (1..=u64::from(u16::MAX)).contains(id))
        .ok_or_else(|| invalid("parameter 0 must be a raft id (1..=65535)"))
}

fn call(c: &RpcContext, call: MembershipCall) -> std::result::Result<u64, ErrorObjectOwned> {
    handle(c)?
        .call(call, CALL_TIMEOUT)
        .map_err(|e| err(SERVER_ERROR, e))
}

pub(super) fn register(m: &mut RpcModule<RpcContext>) -> Result<()> {
    reg(m, "raft_role", |c, _| {
        let s = handle(c)?.status();
        Ok(json!(role_name(&s, s.id)))
    })?;
    reg(m, "raft_leader", |c, _| {
        let s = handle(c)?.status();
        s.members
            .iter()
            .find(|(id, _, _)| *id == s.leader && s.leader != 0)
            .map(|(_, k, _)| json!(node_id(k)))
            .ok_or_else(|| err(SERVER_ERROR, "no leader is currently elected"))
    })?;
    reg(m, "raft_cluster", |c, _| {
        let h = handle(c)?;
        let s = h.status();
        let connected = c.net.peers();
        let list: Vec<Value> = s
            .members
            .iter()
            .map(|(id, key, _)| {
                let peer = PeerId::from_public_key(key);
                let enode = h.address(*id);
                let active = *id == s.id || connected.iter().any(|p| p.id == peer);
                json!({
                    "raftId": id,
                    "nodeId": node_id(key),
                    "p2pPort": enode.as_ref().map_or(0, |e| e.addr.port()),
                    "raftPort": enode.as_ref().and_then(|e| e.raftport).unwrap_or(0),
                    "hostname": enode.as_ref().map(|e| e.addr.ip().to_string()).unwrap_or_default(),
                    "role": role_name(&s, *id),
                    "nodeActive": active,
                })
            })
            .collect();
        Ok(Value::Array(list))
    })?;
    reg_blocking(m, "raft_addPeer", |c, a| {
        let enode = arg_enode(a)?;
        Ok(json!(call(c, MembershipCall::AddPeer(enode))?))
    })?;
    reg_blocking(m, "raft_addLearner", |c, a| {
        let enode = arg_enode(a)?;
        Ok(json!(call(c, MembershipCall::AddLearner(enode))?))
    })?;
    reg_blocking(m, "raft_promoteToPeer", |c, a| {
        let id = arg_raft_id(a)?;
        call(c, MembershipCall::Promote(id))?;
        Ok(json!(true))
    })?;
    reg_blocking(m, "raft_removePeer", |c, a| {
        let id = arg_raft_id(a)?;
        call(c, MembershipCall::Remove(id))?;
        Ok(Value::Null)
    })?;
    Ok(())
}
