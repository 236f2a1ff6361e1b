//! The JSON-RPC server (jsonrpsee, HTTP and WebSocket): geth-compatible `web3`, `net`, `eth`, `debug`,
//! `admin`, `clique`, `istanbul` and `qbft` methods and the built-in wallet (`eth_accounts`,
//! `eth_sign`, `personal_sign`, `eth_signTransaction`). Every parameter is parsed defensively: malformed input gets a
//! JSON-RPC error (-32602), never a panic. Who may call which method: [`access`].

pub mod access;
mod bft;
mod json;
mod pubsub;
mod raft;
mod sign_tx;
mod state;
mod txpool;

pub use pubsub::MAX_HEADS_PER_CHANGE;
pub use state::{
    DEFAULT_EVM_TIMEOUT, DEFAULT_GAS_CAP, EthState, FILTER_TIMEOUT, MAX_FILTERS, MAX_LOG_RANGE,
    PendingTransactions,
};

use std::net::SocketAddr;
use std::sync::Arc;

use alloy_primitives::Address;
use alloy_signer::SignerSync as _;
use cachet_devp2p::net::{Enode, Network};
use cachet_keyprovider::SigningKey;
use jsonrpsee::server::ServerHandle;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Extensions, RpcModule};
use serde_json::{Value, json};

use crate::chain::Chain;
use crate::clique::Proposals;
use crate::error::{Error, Result};
use crate::sync_status::SyncStatus;
use json::{
    SERVER_ERROR, arg_address, arg_block_number, arg_bytes, arg_hash, arg_str, args, block_json,
    data, err, invalid, qty, qty256,
};

/// What the methods read.
#[allow(missing_debug_implementations)] // holds the network service and a signing key handle
pub struct RpcContext {
    /// The chain.
    pub chain: Arc<Chain>,
    /// The network service.
    pub net: Arc<Network>,
    /// Pending clique votes.
    pub proposals: Proposals,
    /// The wallet account.
    pub wallet: SigningKey,
    /// The network id (`net_version`).
    pub network_id: u64,
    /// `web3_clientVersion`.
    pub client_version: String,
    /// Download progress (`eth_syncing`).
    pub sync: SyncStatus,
    /// discv4's UDP port when discovery runs (`admin_nodeInfo`'s `ports.discovery`).
    pub discovery_port: Option<u16>,
    /// The process hardening obtained (`admin_nodeInfo`'s `hardening`).
    pub hardening: Value,
    /// Filters, the call gas cap and the pool hook of the state methods.
    pub eth: EthState,
    /// The transaction pool (`eth_sendRawTransaction`, `eth_sendTransaction`, `txpool_*`);
    /// `None` answers them with an error.
    pub pool: Option<Arc<crate::pool::TxPool>>,
    /// The raft cluster member's driver (`raft_*`); `None` answers them with an error.
    pub raft: Option<crate::raft_cluster::RaftHandle>,
}

type R = std::result::Result<Value, ErrorObjectOwned>;

fn internal(e: &Error) -> ErrorObjectOwned {
    err(SERVER_ERROR, e.to_string())
}

/// Starts the HTTP server on `addr` with the default access (`--http.api` default, no
/// signing, `--http.vhosts localhost`); returns its handle and bound address.
///
/// # Errors
/// [`Error::Rpc`] when the address cannot be bound.
pub async fn start(addr: SocketAddr, ctx: RpcContext) -> Result<(ServerHandle, SocketAddr)> {
    access::start(addr, ctx, &access::AccessConfig::default()).await
}

/// Starts the HTTP server on `addr` with `access` (see [`access::start`]).
///
/// # Errors
/// [`Error::Config`] for flags that do not hold together, [`Error::Rpc`] when the address
/// cannot be bound.
pub async fn start_with(
    addr: SocketAddr,
    ctx: RpcContext,
    access: &access::AccessConfig,
) -> Result<(ServerHandle, SocketAddr)> {
    access::start(addr, ctx, access).await
}

/// Starts the HTTP listener on `http` and the WebSocket listener on `ws` (each when given) with
/// `access` (see [`access::start_listeners`]).
///
/// # Errors
/// [`Error::Config`] for flags that do not hold together, [`Error::Rpc`] when an address
/// cannot be bound.
pub async fn start_listeners(
    ctx: RpcContext,
    access: &access::AccessConfig,
    http: Option<SocketAddr>,
    ws: Option<SocketAddr>,
) -> Result<access::Servers> {
    access::start_listeners(ctx, access, http, ws).await
}

fn reg(
    m: &mut RpcModule<RpcContext>,
    name: &'static str,
    f: fn(&RpcContext, &[Value]) -> R,
) -> Result<()> {
    m.register_method(
        name,
        move |params: Params<'_>, ctx: &RpcContext, _: &Extensions| {
            let a = args(&params)?;
            f(ctx, &a)
        },
    )
    .map(|_| ())
    .map_err(|e| Error::RpcMethod {
        name,
        source: Box::new(e),
    })
}

/// Registers a method that may run long (EVM execution, range scans, a wait on the raft
/// driver) on the blocking pool, so it does not hold up the runtime's workers.
fn reg_blocking(
    m: &mut RpcModule<RpcContext>,
    name: &'static str,
    f: fn(&RpcContext, &[Value]) -> R,
) -> Result<()> {
    m.register_blocking_method(name, move |params: Params<'_>, ctx: Arc<RpcContext>, _| {
        let a = args(&params)?;
        f(&ctx, &a)
    })
    .map(|_| ())
    .map_err(|e| Error::RpcMethod {
        name,
        source: Box::new(e),
    })
}

/// The module with every method.
///
/// # Errors
/// [`Error::Config`] on a duplicate method name (a bug).
pub fn module(ctx: RpcContext) -> Result<RpcModule<RpcContext>> {
    let mut m = RpcModule::new(ctx);
    reg(&mut m, "web3_clientVersion", |c, _| {
        Ok(json!(c.client_version))
    })?;
    reg(&mut m, "net_version", |c, _| {
        Ok(json!(c.network_id.to_string()))
    })?;
    reg(&mut m, "net_listening", |_, _| Ok(json!(true)))?;
    reg(&mut m, "net_peerCount", |c, _| {
        Ok(qty(c.net.peers().len() as u64))
    })?;
    reg(&mut m, "eth_chainId", |c, _| Ok(qty(c.chain.chain_id())))?;
    reg(&mut m, "eth_blockNumber", |c, _| {
        Ok(qty(c.chain.head().header.number))
    })?;
    reg(&mut m, "eth_syncing", |c, _| {
        Ok(match c.sync.progress(c.chain.head().header.number) {
            Some(p) => json!({
                "startingBlock": qty(p.starting_block),
                "currentBlock": qty(p.current_block),
                "highestBlock": qty(p.highest_block),
            }),
            None => json!(false),
        })
    })?;
    reg(&mut m, "eth_getBlockByNumber", |c, a| {
        let n = arg_block_number(&c.chain, a, 0)?;
        match c
            .chain
            .store()
            .canonical_hash(n)
            .map_err(|e| internal(&e))?
        {
            Some(h) => block_json(&c.chain, &h),
            None => Ok(Value::Null),
        }
    })?;
    reg(&mut m, "eth_getBlockByHash", |c, a| {
        block_json(&c.chain, &arg_hash(a, 0)?)
    })?;
    reg(&mut m, "debug_getRawHeader", |c, a| {
        let n = arg_block_number(&c.chain, a, 0)?;
        match c.chain.header_rlp_by_number(n).map_err(|e| internal(&e))? {
            Some(h) => Ok(data(&h)),
            None => Ok(Value::Null),
        }
    })?;
    reg(&mut m, "admin_nodeInfo", |c, _| Ok(node_info(c)))?;
    reg(&mut m, "admin_peers", |c, _| Ok(peers(c)))?;
    reg(&mut m, "admin_addPeer", |c, a| {
        let url = arg_str(a, 0, "enode")?;
        let enode: Enode = url
            .parse()
            .map_err(|e: cachet_primitives::DecodeError| invalid(e.to_string()))?;
        c.net.dial(enode);
        Ok(json!(true))
    })?;
    reg(&mut m, "clique_getSigners", |c, a| {
        let n = arg_block_number(&c.chain, a, 0)?;
        let hash = c
            .chain
            .store()
            .canonical_hash(n)
            .map_err(|e| internal(&e))?;
        let snap = hash.and_then(|h| c.chain.snapshot(&h));
        match snap {
            Some(s) => Ok(json!(s.signers.iter().collect::<Vec<_>>())),
            None => Err(err(SERVER_ERROR, format!("no snapshot kept for block {n}"))),
        }
    })?;
    reg(&mut m, "clique_proposals", |c, _| {
        let p = c
            .proposals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(json!(
            p.iter()
                .map(|(a, b)| (a.to_string(), Value::Bool(*b)))
                .collect::<serde_json::Map<_, _>>()
        ))
    })?;
    reg(&mut m, "clique_propose", |c, a| {
        let target = arg_address(a, 0)?;
        let auth = a
            .get(1)
            .and_then(Value::as_bool)
            .ok_or_else(|| invalid("parameter 1 must be a boolean (authorize)"))?;
        c.proposals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(target, auth);
        Ok(Value::Null)
    })?;
    reg(&mut m, "clique_discard", |c, a| {
        let target = arg_address(a, 0)?;
        c.proposals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&target);
        Ok(Value::Null)
    })?;
    reg(&mut m, "eth_accounts", |c, _| {
        Ok(json!([c.wallet.address()]))
    })?;
    reg(&mut m, "eth_sign", |c, a| {
        let who = arg_address(a, 0)?;
        let msg = arg_bytes(a, 1)?;
        sign(c, who, &msg)
    })?;
    reg(&mut m, "personal_sign", |c, a| {
        let msg = arg_bytes(a, 0)?;
        let who = arg_address(a, 1)?;
        sign(c, who, &msg)
    })?;
    reg(&mut m, "eth_signTransaction", sign_tx::sign_transaction)?;
    state::register(&mut m)?;
    txpool::register(&mut m)?;
    bft::register(&mut m)?;
    pubsub::register(&mut m)?;
    raft::register(&mut m)?;
    Ok(m)
}

/// EIP-191 personal message signature by the wallet account (v = 27/28, as geth).
fn sign(c: &RpcContext, who: Address, msg: &[u8]) -> R {
    if who != c.wallet.address() {
        return Err(err(SERVER_ERROR, format!("unknown account {who}")));
    }
    let sig = c
        .wallet
        .sign_message_sync(msg)
        .map_err(|e| err(SERVER_ERROR, format!("signing failed: {e}")))?;
    Ok(data(&sig.as_bytes()))
}

fn node_info(c: &RpcContext) -> Value {
    let mut enode = c.net.local_enode();
    enode.discport = c.discovery_port.filter(|p| *p != enode.addr.port());
    let head = c.chain.head();
    json!({
        "enode": enode.to_string(),
        "id": hex::encode(alloy_primitives::keccak256(enode.id.0)),
        "name": c.client_version,
        "ip": enode.addr.ip().to_string(),
        "listenAddr": enode.addr.to_string(),
        "ports": { "discovery": c.discovery_port.unwrap_or(0), "listener": enode.addr.port() },
        "protocols": { "eth": {
            "network": c.network_id,
            "difficulty": qty256(head.total_difficulty),
            "genesis": c.chain.genesis_hash(),
            "head": head.hash,
            "consensus": c.chain.engine().name(),
        }},
        "hardening": c.hardening,
    })
}

fn peers(c: &RpcContext) -> Value {
    let list: Vec<Value> = c
        .net
        .peers()
        .iter()
        .map(|p| {
            let mut protocols = json!({ "eth": {
                "version": p.status.version,
                "difficulty": qty256(p.status.total_difficulty),
                "head": p.status.head,
            }});
            // GoQuorum lists its consensus sub-protocol under its name too.
            if p.istanbul {
                protocols["istanbul"] = json!({ "version": cachet_devp2p::istanbul::VERSION });
            }
            json!({
                "enode": Enode { id: p.id, addr: p.addr, discport: None, raftport: None }.to_string(),
                "id": hex::encode(alloy_primitives::keccak256(p.id.0)),
                "name": p.hello.client_id,
                "caps": p.hello.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "network": {
                    "remoteAddress": p.addr.to_string(),
                    "inbound": matches!(p.direction, cachet_devp2p::net::Direction::Inbound),
                },
                "protocols": protocols,
            })
        })
        .collect();
    Value::Array(list)
}
