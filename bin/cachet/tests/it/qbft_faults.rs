//! Four QBFT (and, the same steps, four GoQuorum IBFT) validators as four separate
//! `cachet node --mine` processes on loopback (bundles and genesis from
//! `cachet_node::devnet::prepare`, the devnet's own helper, with a 2 s
//! `requesttimeoutseconds`), through the faults of issue 14 that `cachet devnet` cannot show (it
//! stops every node when one dies): all four commit; one killed (SIGKILL) → the other three keep
//! committing; a second killed → the two left go through round changes (round ≥ 3 in their
//! logs) and commit nothing; both restarted over their datadirs → all four commit again and
//! agree on every hash up to a common height; one validator's master key revoked while it runs
//! → it exits 10 and the other three keep committing. Every block is checked with
//! `cachet_seal::qbft::verify` (IBFT: `cachet_seal::ibft::verify`): committed seals of at least
//! 3 of the 4 validators.

use std::fs::File;
use std::io::{BufRead as _, BufReader, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::Address;
use cachet_node::devnet::{DevnetConfig, DevnetNode, prepare};
use cachet_seal::Engine;
use serde_json::{Value, json};

use super::engines::{assert_committed, assert_qbft_committed, block_hash, inspect, raw_header};
use super::node::{base_port, cachet, number, rpc, wait_exit, wait_until};
use super::pool_rpc::result;

const N: usize = 4;
/// ⌈2N/3⌉ for N = 4.
const QUORUM: usize = 3;
/// The genesis `requesttimeoutseconds`: round 0 times out after 2 s.
const ROUND_TIMEOUT_S: u64 = 2;
/// Generous deadlines that only fail the test.
pub(crate) const DEADLINE: Duration = Duration::from_secs(180);

/// The validator processes (`cachet node --mine --kms-recheck 1` over each devnet datadir, plus
/// `args`); every child still running is killed by pid when dropped (a failed assertion
/// included). Shared with `raft_faults`.
pub(crate) struct Procs {
    pub(crate) root: PathBuf,
    pub(crate) nodes: Vec<DevnetNode>,
    /// Extra `cachet node` arguments of every process.
    pub(crate) args: Vec<String>,
    pub(crate) children: Vec<Option<Child>>,
}

impl Drop for Procs {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Procs {
    pub(crate) fn new(root: PathBuf, nodes: Vec<DevnetNode>, args: &[&str]) -> Self {
        let children = nodes.iter().map(|_| None).collect();
        Self {
            root,
            nodes,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            children,
        }
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.root.join(format!("node{i}.log"))
    }

    /// Starts validator `i` (`cachet node --mine` over its datadir), its JSON log appended to
    /// `node{i}.log`.
    pub(crate) fn start(&mut self, i: usize) {
        self.start_with(i, &[]);
    }

    /// [`Self::start`] with `extra` arguments for this process only.
    pub(crate) fn start_with(&mut self, i: usize, extra: &[&str]) {
        assert!(self.children[i].is_none(), "node{i} already runs");
        let n = &self.nodes[i];
        let others: Vec<&str> = (0..self.nodes.len())
            .filter(|j| *j != i)
            .map(|j| self.nodes[j].enode.as_str())
            .collect();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cachet"))
            .args(["--log.format", "json", "node", "--datadir"])
            .arg(&n.datadir)
            .arg("--genesis")
            .arg(self.root.join("genesis.json"))
            .args(["--addr", "127.0.0.1", "--nodiscover"])
            .args(["--port", &n.p2p_port.to_string()])
            .args(["--http.port", &n.http_port.to_string()])
            .args(["--mine", "--kms-recheck", "1"])
            .args(&self.args)
            .args(extra)
            .args(["--bootnodes", &others.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn cachet node");
        self.children[i] = Some(child);
    }

    /// SIGKILL to validator `i`.
    pub(crate) fn kill(&mut self, i: usize) {
        let mut child = self.children[i].take().expect("running");
        child.kill().unwrap();
        let _ = child.wait();
    }

    pub(crate) fn port(&self, i: usize) -> u16 {
        self.nodes[i].http_port
    }

    pub(crate) fn heads(&self, which: &[usize]) -> Vec<u64> {
        which.iter().map(|i| number(self.port(*i))).collect()
    }

    /// The last lines of every node's log, for a failure message.
    pub(crate) fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(15)..].join("\n");
                format!("--- node{i}.log (last lines)\n{tail}\n")
            })
            .collect()
    }

    /// Waits until every validator in `which` has a head of at least `n`.
    pub(crate) fn wait_heads(&self, which: &[usize], n: u64, what: &str) {
        let reached = wait_until(DEADLINE, || {
            which.iter().all(|i| number(self.port(*i)) >= n)
        });
        assert!(
            reached,
            "{what}: validators {which:?} did not reach block {n}: heads {:?}\n{}",
            self.heads(which),
            self.logs()
        );
    }

    /// The hashes of blocks 1..=`top` on validator `i`.
    fn hashes(&self, i: usize, top: u64) -> Vec<Option<String>> {
        (1..=top)
            .map(|n| block_hash(self.port(i), &format!("{n:#x}")))
            .collect()
    }

    /// Asserts that the validators in `which` hold the same block at every height up to the
    /// lowest of their heads (a common height of at least `least`); returns that height.
    pub(crate) fn assert_agree(&self, which: &[usize], least: u64, what: &str) -> u64 {
        let common = which.iter().map(|i| number(self.port(*i))).min().unwrap();
        assert!(common >= least, "{what}: common height {common} < {least}");
        let first = self.hashes(which[0], common);
        assert!(
            first.iter().all(Option::is_some),
            "{what}: node{} misses a block up to {common}",
            which[0]
        );
        for i in &which[1..] {
            assert_eq!(
                self.hashes(*i, common),
                first,
                "{what}: node{i} and node{} disagree on blocks 1..={common}",
                which[0]
            );
        }
        common
    }

    /// The round changes (height, round) validator `i` logged from byte `from` of its log on.
    fn round_changes(&self, i: usize, from: u64) -> Vec<(u64, u64)> {
        let Ok(mut f) = File::open(self.log_path(i)) else {
            return Vec::new();
        };
        f.seek(SeekFrom::Start(from)).unwrap();
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| serde_json::from_str::<Value>(&line).ok())
            .filter(|v| v["fields"]["message"] == "round change")
            .filter_map(|v| {
                Some((
                    v["fields"]["height"].as_u64()?,
                    v["fields"]["round"].as_u64()?,
                ))
            })
            .collect()
    }

    fn log_len(&self, i: usize) -> u64 {
        std::fs::metadata(self.log_path(i)).map_or(0, |m| m.len())
    }
}

/// Moves node `i`'s bundle to a local master key of its own (`cachet master-key new`,
/// `cachet rotate`), `<root>/master-<i>.key`, whose removal revokes it; returns that path.
pub(crate) fn own_master_key(root: &Path, node: &DevnetNode, i: usize) -> PathBuf {
    let key = root.join(format!("master-{i}.key"));
    let uri = format!("local:{}", key.display());
    cachet(&["master-key", "new", &uri]);
    cachet(&[
        "rotate",
        "--datadir",
        node.datadir.to_str().unwrap(),
        "--to",
        &uri,
    ]);
    key
}

/// Bundles and genesis (and for raft static-nodes.json) of `n` nodes as `cachet devnet
/// --engine <engine> --nodes n --period 1` makes them, RLPx and JSON-RPC ports from `p2p` and
/// `http`. Shared with `raft_faults`.
pub(crate) fn prepare_devnet(
    root: &Path,
    engine: Engine,
    n: usize,
    p2p: u16,
    http: u16,
) -> Vec<DevnetNode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(prepare(&DevnetConfig {
            engine,
            dir: root.to_path_buf(),
            period: 1,
            nodes: n,
            chain_id: 1337,
            p2p_port: p2p,
            http_port: http,
            ws_port: 0,
            prefund: Vec::new(),
            london: true,
        }))
        .expect("devnet prepare")
}

/// Bundles and genesis for `n` validators of `engine` (QBFT or IBFT) as `cachet devnet
/// --engine … --nodes n` makes them, the genesis then given a short round timeout.
fn prepare_network(root: &Path, engine: Engine, n: usize, p2p: u16, http: u16) -> Vec<DevnetNode> {
    let nodes = prepare_devnet(root, engine, n, p2p, http);
    let path = root.join("genesis.json");
    let mut genesis: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let key = if engine == Engine::Ibft {
        "istanbul"
    } else {
        "qbft"
    };
    assert!(genesis["config"][key].is_object(), "no config.{key}");
    genesis["config"][key]["requesttimeoutseconds"] = json!(ROUND_TIMEOUT_S);
    std::fs::write(&path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    nodes
}

#[test]
fn four_qbft_processes_survive_one_fault_stall_at_two_resume_and_lose_a_revoked_validator() {
    four_processes_survive_faults(Engine::Qbft, 97);
}

#[test]
fn four_ibft_processes_survive_one_fault_stall_at_two_resume_and_lose_a_revoked_validator() {
    four_processes_survive_faults(Engine::Ibft, 134);
}

/// The steps of the module documentation for four validators of `engine`, ports from `salt`.
fn four_processes_survive_faults(engine: Engine, salt: u16) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(salt), base_port(salt) + 10);
    let nodes = prepare_network(&root, engine, N, p2p, http);
    // Validator 1 gets its own master key, to be revoked while it runs (the others share the
    // devnet's).
    let own_key = own_master_key(&root, &nodes[1], 1);
    let mut validators: Vec<Address> = nodes
        .iter()
        .map(|n| {
            inspect(&n.datadir)["node_address"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    validators.sort();
    let mut procs = Procs::new(root, nodes, &["--http.api", "eth,net,web3,debug,istanbul"]);
    let all = [0, 1, 2, 3];
    for i in all {
        procs.start(i);
    }

    // 1. All four commit.
    procs.wait_heads(&all, 3, "all four running");

    // 2. Validator 3 SIGKILLed: the other three keep committing.
    procs.kill(3);
    let three = [0, 1, 2];
    let from = *procs.heads(&three).iter().max().unwrap();
    procs.wait_heads(&three, from + 3, "validator 3 down");

    // 3. Validator 2 SIGKILLed too: no quorum. Both survivors time out into round 3 at the
    // same stuck height (three round timers expired) and neither holds that block.
    let marks = [procs.log_len(0), procs.log_len(1)];
    procs.kill(2);
    let two = [0, 1];
    let mut stuck = [None, None];
    let stalled = wait_until(DEADLINE, || {
        for (k, i) in two.iter().enumerate() {
            stuck[k] = procs
                .round_changes(*i, marks[k])
                .into_iter()
                .filter(|(_, round)| *round >= 3)
                .map(|(height, _)| height)
                .max();
        }
        stuck.iter().all(Option::is_some)
    });
    assert!(
        stalled,
        "the two survivors never reached round 3: {stuck:?}\n{}",
        procs.logs()
    );
    let stuck_at = stuck[0].unwrap();
    assert_eq!(
        stuck,
        [Some(stuck_at); 2],
        "the survivors are stuck at one height"
    );
    let heads = procs.heads(&two);
    assert_eq!(
        heads,
        [stuck_at - 1; 2],
        "no block {stuck_at} with two of four validators\n{}",
        procs.logs()
    );
    for i in two {
        assert_eq!(
            rpc(
                procs.port(i),
                "eth_getBlockByNumber",
                json!([format!("{stuck_at:#x}"), false])
            ),
            Some(Value::Null),
            "node{i} has no block {stuck_at}"
        );
    }
    procs.assert_agree(&two, stuck_at - 1, "two running");

    // 4. Both restarted over their datadirs: all four commit again and agree.
    procs.start(2);
    procs.start(3);
    procs.wait_heads(&all, stuck_at + 2, "both restarted");
    procs.assert_agree(&all, stuck_at + 2, "both restarted");

    // 5. Validator 1's master key revoked while it runs: it exits 10, the others go on.
    std::fs::remove_file(&own_key).unwrap();
    let status = wait_exit(procs.children[1].as_mut().unwrap(), DEADLINE);
    let Some(status) = status else {
        panic!(
            "validator 1 kept running after its master key was revoked\n{}",
            procs.logs()
        );
    };
    procs.children[1] = None;
    assert_eq!(
        status.code(),
        Some(10),
        "exit 10 on revocation\n{}",
        procs.logs()
    );
    let others = [0, 2, 3];
    let from = *procs.heads(&others).iter().max().unwrap();
    procs.wait_heads(&others, from + 3, "validator 1 revoked");
    let top = procs.assert_agree(&others, from + 3, "validator 1 revoked");

    // Every block: committed seals of at least 3 of the 4 validators.
    for n in 1..=top {
        assert_committed(engine, &raw_header(procs.port(0), n), &validators, QUORUM);
    }
}

/// The node address `cachet inspect` reports for a datadir.
fn node_address(datadir: &Path) -> Address {
    inspect(datadir)["node_address"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `genesis_validators` validators in the genesis and one more `cachet node --mine` outside it;
/// the first `voters` of them vote it in; it must then propose a block that a quorum of the
/// grown set commits, without a restart (decisions 526–527).
fn vote_in(genesis_validators: usize, voters: usize, salt: u16) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(salt), base_port(salt) + 10);
    let n = genesis_validators;
    let nodes = prepare_network(&root, Engine::Qbft, n + 1, p2p, http);
    let addresses: Vec<Address> = nodes.iter().map(|n| node_address(&n.datadir)).collect();
    let mut validators = addresses[..n].to_vec();
    validators.sort();
    let path = root.join("genesis.json");
    let mut genesis: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let extra = cachet_seal::qbft::encode_extra(&cachet_seal::bft::BftExtra {
        vanity: vec![0; 32],
        validators: validators.clone(),
        ..Default::default()
    });
    genesis["extraData"] = json!(format!("0x{}", hex::encode(extra)));
    std::fs::write(&path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    let newcomer = addresses[n];
    let quorum = |v: usize| (2 * v).div_ceil(3);

    let mut procs = Procs::new(root, nodes, &["--http.api", "eth,net,web3,debug,istanbul"]);
    let all: Vec<usize> = (0..=n).collect();
    for i in &all {
        procs.start(*i);
    }
    procs.wait_heads(&all, 2, "the validators and a node outside the set");
    let before = number(procs.port(0));
    for k in 1..=before {
        let h = raw_header(procs.port(0), k);
        let proposer = assert_qbft_committed(&h, &validators, quorum(n));
        assert_ne!(proposer, newcomer, "block {k}: proposed by a non-validator");
    }

    for i in 0..voters {
        assert_eq!(
            result(procs.port(i), "istanbul_propose", json!([newcomer, true])),
            Value::Null
        );
    }
    let mut grown = validators.clone();
    grown.push(newcomer);
    grown.sort();
    // The node, never restarted, proposes a block that the grown set commits.
    let mut checked = before;
    let mut proposed = None;
    let found = wait_until(DEADLINE, || {
        let top = number(procs.port(0));
        while proposed.is_none() && checked < top {
            checked += 1;
            let h = raw_header(procs.port(0), checked);
            if h.beneficiary == newcomer {
                proposed = Some(h);
            }
        }
        proposed.is_some()
    });
    let Some(block) = proposed.filter(|_| found) else {
        panic!(
            "the node voted in proposed no block up to {checked}: validators now {:?}\n{}",
            rpc(procs.port(0), "istanbul_getValidators", json!(["latest"])),
            procs.logs()
        );
    };
    assert_eq!(
        assert_qbft_committed(&block, &grown, quorum(n + 1)),
        newcomer
    );
    procs.assert_agree(&all, block.number, "after the vote");
}

#[test]
fn a_node_voted_in_by_three_of_four_validators_starts_validating_without_a_restart() {
    vote_in(N, 3, 118);
}

#[test]
fn a_lone_validator_votes_in_a_second_one_and_the_two_commit_together() {
    vote_in(1, 1, 119);
}
