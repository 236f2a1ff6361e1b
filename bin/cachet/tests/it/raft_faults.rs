//! Three raft members as three separate `cachet node` processes on loopback (bundles, genesis and
//! static-nodes.json from `cachet_node::devnet::prepare`, as `cachet devnet --engine raft
//! --nodes 3` writes them; each bundle moved to a local master key of its own), through the
//! faults of issue 15 that `cachet devnet` cannot show (it stops every node when one dies):
//! a transaction sent through a follower is minted by the leader and present on all three; the
//! leader's master key revoked → it exits 10, the two others elect a new leader, whose block
//! (checked with `cachet_seal::raft`) both hold; the new leader killed (SIGKILL) → the one member left
//! mints nothing; the killed member restarted over its datadir → a leader is elected, the
//! pending transaction is minted and both agree on every block.
//! A second test adds a fourth member: `raft_addPeer` on the leader, the new node started with
//! `--raft-join-existing`, it syncs and follows (a transaction sent through it is in the same
//! block on all four); then `raft_removePeer` of it → it stops, the three go on; then the
//! leader killed (SIGKILL) → the other two elect another leader, whose raft id and key sign the next
//! block, and the killed member restarted over its datadir catches up.

use std::time::Duration;

use alloy_primitives::{Address, B256};
use cachet_node::devnet::DevnetNode;
use cachet_seal::{Engine, raft};
use serde_json::{Value, json};

use super::engines::{block_hash, raft_founders, raft_minter, raw_header, raw_hex};
use super::node::{base_port, head_once_up, number, rpc, wait_exit, wait_until};
use super::pool_rpc::{Key, call, receipt, result};
use super::qbft_faults::{DEADLINE, Procs, own_master_key, prepare_devnet};

const N: usize = 3;
/// raft-rs's longest election timeout here: 20 ticks of 100 ms.
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_secs(2);

/// Bundles, genesis and static-nodes.json for `n` raft members as `cachet devnet --engine
/// raft --nodes n --period 1` makes them.
fn prepare_network(root: &std::path::Path, n: usize, p2p: u16, http: u16) -> Vec<DevnetNode> {
    prepare_devnet(root, Engine::Raft, n, p2p, http)
}

/// The member processes over `nodes` (raft namespace and wallet signing over RPC on), the
/// first three started and answering.
fn start_founders(root: std::path::PathBuf, nodes: Vec<DevnetNode>, block_time_ms: u32) -> Procs {
    let block_time = block_time_ms.to_string();
    let mut procs = Procs::new(
        root,
        nodes,
        &[
            "--http.api",
            "eth,net,web3,debug,raft",
            "--wallet.rpc",
            "--raftblocktime",
            &block_time,
        ],
    );
    for i in 0..N {
        procs.start(i);
    }
    for i in 0..N {
        head_once_up(procs.port(i));
    }
    procs
}

/// Waits until exactly one of `which` is the minter, every other one a verifier, and all of
/// them name its node id in `raft_leader`; returns its index.
fn elect(procs: &Procs, which: &[usize], node_ids: &[String], what: &str) -> usize {
    let ports: Vec<u16> = which.iter().map(|i| procs.port(*i)).collect();
    let mut leader = None;
    let elected = wait_until(DEADLINE, || {
        leader = raft_minter(&ports).map(|k| which[k]);
        leader.is_some_and(|l| {
            ports
                .iter()
                .all(|p| rpc(*p, "raft_leader", json!([])) == Some(json!(node_ids[l])))
        })
    });
    let roles: Vec<Option<Value>> = ports
        .iter()
        .map(|p| rpc(*p, "raft_role", json!([])))
        .collect();
    let Some(leader) = leader.filter(|_| elected) else {
        panic!(
            "{what}: no single leader named by all of {which:?}: roles {roles:?}\n{}",
            procs.logs()
        );
    };
    for p in &ports {
        assert_eq!(
            rpc(*p, "raft_leader", json!([])),
            Some(json!(node_ids[leader])),
            "{what}: raft_leader on port {p}"
        );
    }
    leader
}

/// `eth_sendTransaction` of a transfer from node `i`'s devnet wallet to a new address.
fn send(procs: &Procs, i: usize) -> B256 {
    let port = procs.port(i);
    let wallet: Address =
        serde_json::from_value(result(port, "eth_accounts", json!([]))[0].clone()).unwrap();
    let to = Key::random().address;
    serde_json::from_value(result(
        port,
        "eth_sendTransaction",
        json!([{"from": wallet, "to": to, "value": "0x3039"}]),
    ))
    .unwrap()
}

/// Waits for `hash`'s receipt on every member in `which`; asserts it is the same successful
/// block on all of them and returns (block hash, number).
fn mined_on(procs: &Procs, which: &[usize], hash: B256, what: &str) -> (String, u64) {
    let receipts: Vec<Option<Value>> = which
        .iter()
        .map(|i| receipt(procs.port(*i), hash, DEADLINE.as_secs()))
        .collect();
    if receipts.iter().any(Option::is_none) {
        panic!(
            "{what}: transaction {hash} not on every member of {which:?}: heads {:?}\n{}",
            procs.heads(which),
            procs.logs()
        );
    }
    let blocks: Vec<(String, String)> = receipts
        .iter()
        .map(|r| {
            let r = r.as_ref().unwrap();
            assert_eq!(r["status"], "0x1", "{what}: receipt {r}");
            (
                r["blockHash"].as_str().unwrap().to_owned(),
                r["blockNumber"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        blocks.iter().all(|b| *b == blocks[0]),
        "{what}: the transaction's block differs between members: {blocks:?}"
    );
    let (block, number) = blocks[0].clone();
    let number = u64::from_str_radix(number.trim_start_matches("0x"), 16).unwrap();
    (block, number)
}

#[test]
fn three_raft_processes_fail_over_from_a_revoked_leader_stall_alone_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(113), base_port(113) + 10);
    let nodes = prepare_network(&root, N, p2p, http);
    // Each member gets its own master key: whichever leads can be revoked alone.
    let keys: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| own_master_key(&root, n, i))
        .collect();
    let datadirs: Vec<_> = nodes.iter().map(|n| n.datadir.clone()).collect();
    let (node_ids, members) = raft_founders(&datadirs);
    let all = [0, 1, 2];
    let mut procs = start_founders(root, nodes, 1000);

    // 1. A transaction sent through a follower is minted by the leader, on all three.
    let first = elect(&procs, &all, &node_ids, "three running");
    let follower = (first + 1) % N;
    let tx = send(&procs, follower);
    mined_on(&procs, &all, tx, "three running");

    // 2. The leader's master key revoked: it exits 10; the two others elect another leader,
    // which mints a new transaction into a block both hold, signed by it.
    std::fs::remove_file(&keys[first]).unwrap();
    let status = wait_exit(procs.children[first].as_mut().unwrap(), DEADLINE);
    let Some(status) = status else {
        panic!(
            "leader {first} kept running after its master key was revoked\n{}",
            procs.logs()
        );
    };
    procs.children[first] = None;
    assert_eq!(
        status.code(),
        Some(10),
        "exit 10 on revocation\n{}",
        procs.logs()
    );
    let two: Vec<usize> = all.into_iter().filter(|i| *i != first).collect();
    let second = elect(&procs, &two, &node_ids, "leader revoked");
    assert_ne!(second, first, "a revoked leader leads no more");
    let tx = send(&procs, two[0]);
    let (block, n) = mined_on(&procs, &two, tx, "leader revoked");
    for i in &two {
        assert_eq!(
            block_hash(procs.port(*i), &format!("{n:#x}")),
            Some(block.clone()),
            "node{i}: block {n} is the transaction's"
        );
    }
    let h = raw_header(procs.port(two[0]), n);
    let second_id = u16::try_from(second + 1).unwrap();
    let signer = raft::recover(&h).unwrap_or_else(|e| panic!("block {n}: {e}"));
    assert_eq!(signer.raft_id, second_id, "block {n}: raft id");
    assert_eq!(
        Some(signer.public_key),
        members.get(second_id).copied(),
        "block {n}: signer"
    );
    assert_eq!(raft::verify(&h, &members).unwrap().raft_id, second_id);

    // 3. The new leader SIGKILLed: one member of three mints nothing, however long it waits.
    let last = two.into_iter().find(|i| *i != second).unwrap();
    procs.kill(second);
    let head = number(procs.port(last));
    assert!(head >= n, "node{last} holds block {n}");
    let pending = send(&procs, last);
    std::thread::sleep(ELECTION_TIMEOUT_MAX * 5);
    assert_eq!(
        number(procs.port(last)),
        head,
        "one member of three minted\n{}",
        procs.logs()
    );
    assert_eq!(
        rpc(procs.port(last), "raft_role", json!([])),
        Some(json!("verifier")),
        "a lone member leads nothing"
    );
    assert_eq!(
        call(
            procs.port(last),
            "eth_getTransactionReceipt",
            json!([pending])
        )["result"],
        Value::Null,
        "the pending transaction is not minted alone"
    );

    // The killed member restarted over its datadir: a leader is elected, the pending
    // transaction is minted, and both agree at every height.
    procs.start(second);
    let pair = [last, second];
    elect(&procs, &pair, &node_ids, "new leader restarted");
    let (_, m) = mined_on(&procs, &pair, pending, "new leader restarted");
    assert!(m > head, "the pending transaction is in a new block");
    let top = procs.assert_agree(&pair, m, "new leader restarted");
    for k in 1..=top {
        let raw = raw_hex(procs.port(last), k);
        assert_eq!(raw, raw_hex(procs.port(second), k), "block {k} differs");
        let h = raw_header(procs.port(last), k);
        raft::verify(&h, &members).unwrap_or_else(|e| panic!("block {k}: {e}"));
    }
}

#[test]
fn a_fourth_member_added_by_raft_add_peer_joins_follows_and_leaves_when_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(117), base_port(117) + 10);
    let nodes = prepare_network(&root, N + 1, p2p, http);
    // Three founders; the fourth node's static-nodes.json lists them as the members to dial.
    let founders: Vec<&str> = nodes[..N].iter().map(|n| n.enode.as_str()).collect();
    let list = serde_json::to_string(&founders).unwrap();
    for n in &nodes {
        std::fs::write(n.datadir.join("static-nodes.json"), &list).unwrap();
    }
    let datadirs: Vec<_> = nodes.iter().map(|n| n.datadir.clone()).collect();
    let (node_ids, members) = raft_founders(&datadirs);
    let joiner_enode = nodes[N].enode.clone();
    let three = [0, 1, 2];
    let mut procs = start_founders(root, nodes, 200);
    let leader = elect(&procs, &three, &node_ids, "three founders");
    let tx = send(&procs, (leader + 1) % N);
    let (_, before) = mined_on(&procs, &three, tx, "three founders");

    // Added on the leader: raft id 4; then started with --raft-join-existing 4.
    assert_eq!(
        result(procs.port(leader), "raft_addPeer", json!([joiner_enode])),
        json!(4)
    );
    procs.start_with(N, &["--raft-join-existing", "4"]);
    head_once_up(procs.port(N));
    procs.wait_heads(&[N], before, "the joined member syncs");
    let all = [0, 1, 2, 3];
    procs.assert_agree(&all, before, "after the join");
    assert_eq!(
        rpc(procs.port(N), "raft_role", json!([])),
        Some(json!("verifier")),
        "the joined member is a voter that does not lead\n{}",
        procs.logs()
    );
    let listed = rpc(procs.port(N), "raft_cluster", json!([])).unwrap_or_default();
    let ids: Vec<u64> = listed
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["raftId"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 4, "raft_cluster on the joined member: {listed}");
    // It follows: a transaction sent through it is in the same block on all four.
    let tx = send(&procs, N);
    let (_, joined) = mined_on(&procs, &all, tx, "four members");
    assert!(joined > before);

    // Removed: it stops (a removed id never returns), the three go on.
    let leader = elect(&procs, &three, &node_ids, "before the removal");
    assert_eq!(
        result(procs.port(leader), "raft_removePeer", json!([4])),
        Value::Null
    );
    let status = wait_exit(procs.children[N].as_mut().unwrap(), DEADLINE);
    let Some(status) = status else {
        panic!("the removed member kept running\n{}", procs.logs());
    };
    procs.children[N] = None;
    assert_eq!(status.code(), Some(1), "{}", procs.logs());
    assert!(
        procs.logs().contains("was removed from the cluster"),
        "{}",
        procs.logs()
    );
    let tx = send(&procs, (leader + 2) % N);
    mined_on(&procs, &three, tx, "after the removal");

    // The leader SIGKILLed (no hand-over): the two others elect a new leader, whose raft id and
    // key sign the next block; the killed member restarted over its datadir catches up.
    procs.kill(leader);
    let two: Vec<usize> = three.into_iter().filter(|i| *i != leader).collect();
    let next = elect(&procs, &two, &node_ids, "leader killed");
    let tx = send(&procs, two[0]);
    let (_, n) = mined_on(&procs, &two, tx, "leader killed");
    let signer = raft::recover(&raw_header(procs.port(next), n))
        .unwrap_or_else(|e| panic!("block {n}: {e}"));
    assert_eq!(usize::from(signer.raft_id), next + 1, "block {n}: raft id");
    assert_eq!(
        Some(signer.public_key),
        members.get(signer.raft_id).copied(),
        "block {n}: the new leader's key"
    );
    procs.start(leader);
    procs.wait_heads(&[leader], n, "the killed leader restarted");
    let top = procs.assert_agree(&three, n, "the killed leader restarted");
    for k in 1..=top {
        let h = raw_header(procs.port(leader), k);
        raft::verify(&h, &members).unwrap_or_else(|e| panic!("block {k}: {e}"));
    }
}
