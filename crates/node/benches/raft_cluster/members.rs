//! The raft cluster bench's members: each `cachet_node::run` in a thread of its own with its
//! own tokio runtime (killed by `Runtime::shutdown_background()`), three of them founded by
//! `devnet::prepare`, and the waits on them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use cachet_node::devnet::{DevnetConfig, DevnetNode, prepare};
use cachet_node::{Controls, RaftConfig};
use cachet_seal::Engine;
use serde_json::{Value, json};

use crate::http_client::Client;
use crate::measure::{add_token, sealing_node_config};
use crate::token::{self, ETHER};
use crate::{BLOCK_TIME, MEMBERS, POLL, PORT_BASE, WAIT};

/// The first of `n` consecutive loopback TCP ports that are free now, from [`PORT_BASE`] up,
/// never handed out twice in one run.
fn port_block(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(PORT_BASE);
    loop {
        let base = NEXT.fetch_add(n, Ordering::Relaxed);
        assert!(
            base < 60_000,
            "no block of {n} free ports from {PORT_BASE} up"
        );
        let free = (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
}

/// One member: `cachet_node::run` on a runtime owned by a thread of its own.
pub(crate) struct Member {
    rpc: SocketAddr,
    /// Its node id as `raft_leader` names it.
    node_id: String,
    /// Dropping or sending kills it.
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Why the node stopped on its own, if it did.
    exited: Arc<Mutex<Option<String>>>,
}

impl Member {
    pub(crate) fn start(i: usize, node: &DevnetNode, genesis: &Path) -> Self {
        let rpc: SocketAddr = format!("127.0.0.1:{}", node.http_port)
            .parse()
            .expect("addr");
        // The founders dial each other from static-nodes.json.
        let config = sealing_node_config(
            node,
            genesis,
            rpc,
            RaftConfig {
                raft_id: Some(u16::try_from(i + 1).expect("raft id")),
                block_time_ms: u64::try_from(BLOCK_TIME.as_millis()).expect("ms"),
                ..RaftConfig::default()
            },
            &["eth", "net", "web3", "txpool", "raft"],
        );
        let (started_tx, started_rx) = mpsc::channel::<Result<(), String>>();
        let (kill, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let exited = Arc::new(Mutex::new(None));
        let exited_in = exited.clone();
        let thread = std::thread::Builder::new()
            .name(format!("member{}", i + 1))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name(format!("member{}-rt", i + 1))
                    .build()
                    .expect("runtime");
                let (_stop, stop_rx) = tokio::sync::watch::channel(false);
                let started = started_tx.clone();
                let mut task = rt.spawn(cachet_node::run(
                    config,
                    Controls {
                        shutdown: stop_rx,
                        key_status: None,
                    },
                    move |_| {
                        let _ = started.send(Ok(()));
                    },
                ));
                let ended = rt.block_on(async {
                    tokio::select! {
                        _ = kill_rx => None,
                        r = &mut task => Some(r),
                    }
                });
                if let Some(r) = ended {
                    let why = match r {
                        Ok(Ok(())) => "stopped without being asked".to_owned(),
                        Ok(Err(e)) => format!("stopped: {e}"),
                        Err(e) => format!("panicked: {e}"),
                    };
                    let _ = started_tx.send(Err(why.clone()));
                    *exited_in.lock().expect("lock") = Some(why);
                }
                // The kill: every task dropped where it stands.
                rt.shutdown_background();
            })
            .expect("member thread");
        match started_rx.recv_timeout(WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("raft member {} did not start: {why}", i + 1),
            Err(_) => panic!(
                "raft member {} did not start within {} s",
                i + 1,
                WAIT.as_secs()
            ),
        }
        let node_id = node
            .enode
            .trim_start_matches("enode://")
            .split('@')
            .next()
            .expect("node id")
            .to_lowercase();
        Self {
            rpc,
            node_id,
            kill: Some(kill),
            thread: Some(thread),
            exited,
        }
    }

    pub(crate) fn client(&self) -> Client {
        Client::connect(self.rpc, None)
    }

    pub(crate) fn alive(&self) -> bool {
        self.kill.is_some()
    }

    /// `Runtime::shutdown_background()` in the member's thread; returns once it has been
    /// called.
    pub(crate) fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            // A member thread that panicked has already said why (and this may run while
            // unwinding).
            let _ = t.join();
        }
    }

    pub(crate) fn exited(&self) -> Option<String> {
        self.exited.lock().expect("lock").clone()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three members of a freshly prepared network.
pub(crate) struct Cluster {
    pub(crate) members: Vec<Member>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    pub(crate) fn start(funded: &[Address]) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let net = dir.path().join("net");
        let members = u16::try_from(MEMBERS).expect("members");
        let (p2p_port, http_port) = (port_block(members), port_block(members));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let nodes = rt
            .block_on(prepare(&DevnetConfig {
                dir: net.clone(),
                engine: Engine::Raft,
                period: 1,
                nodes: MEMBERS,
                chain_id: token::CHAIN_ID,
                p2p_port,
                http_port,
                ws_port: 0,
                london: false,
                prefund: funded
                    .iter()
                    .map(|a| (*a, U256::from(1_000_000 * ETHER)))
                    .collect(),
            }))
            .expect("devnet");
        drop(rt);
        let genesis = net.join("genesis.json");
        add_token(&genesis, funded);
        let members = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Member::start(i, n, &genesis))
            .collect();
        Self { members, _dir: dir }
    }

    /// What each member is, for a failure message.
    pub(crate) fn states(&self) -> String {
        self.members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let state = if let Some(why) = m.exited() {
                    why
                } else if !m.alive() {
                    "killed".to_owned()
                } else {
                    let mut c = m.client();
                    format!(
                        "head {}, raft_role {}, raft_leader {}",
                        c.rpc("eth_blockNumber", json!([]))["result"],
                        c.rpc("raft_role", json!([]))["result"],
                        c.rpc("raft_leader", json!([])),
                    )
                };
                format!("member {}: {state}", i + 1)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Waits until one live member is "minter", every other live one "verifier", and all of
    /// them name it in `raft_leader`; returns its index.
    pub(crate) fn leader(&self, what: &str) -> usize {
        let live: Vec<usize> = (0..MEMBERS).filter(|i| self.members[*i].alive()).collect();
        let mut clients: Vec<Client> = live.iter().map(|i| self.members[*i].client()).collect();
        let start = Instant::now();
        loop {
            let roles: Vec<Value> = clients
                .iter_mut()
                .map(|c| c.rpc("raft_role", json!([]))["result"].take())
                .collect();
            let minters: Vec<usize> = (0..live.len()).filter(|k| roles[*k] == "minter").collect();
            if let [k] = minters[..]
                && roles.iter().filter(|r| **r == "verifier").count() == live.len() - 1
            {
                let id = json!(self.members[live[k]].node_id);
                if clients
                    .iter_mut()
                    .all(|c| c.rpc("raft_leader", json!([]))["result"] == id)
                {
                    return live[k];
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "raft_cluster bench stalled: {what}: no single leader within {} s: {}",
                WAIT.as_secs(),
                self.states()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Sends `raw` to member `to` and polls each member in `on` for its receipt from a thread
    /// of its own: the time from the send to each member's receipt, in `on`'s order (checked:
    /// successful, and in the same block on all).
    pub(crate) fn send_and_wait(
        &self,
        to: usize,
        on: &[usize],
        raw: &str,
        what: &str,
    ) -> Vec<Duration> {
        let mut clients: Vec<Client> = on.iter().map(|i| self.members[*i].client()).collect();
        let mut sender = self.members[to].client();
        let start = Instant::now();
        let hash = sender.result("eth_sendRawTransaction", json!([raw]));
        let seen: Vec<(Duration, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = clients
                .iter_mut()
                .map(|c| {
                    let hash = &hash;
                    s.spawn(move || {
                        let mut r = Value::Null;
                        let at = wait_for_quiet(|| {
                            r = c.result("eth_getTransactionReceipt", json!([hash]));
                            !r.is_null()
                        });
                        at.map(|t| (t - start, r))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("poller"))
                .collect::<Option<Vec<_>>>()
        })
        .unwrap_or_else(|| {
            panic!(
                "raft_cluster bench stalled: {what}: transaction {hash} not on members {:?} within {} s: {}",
                on.iter().map(|i| i + 1).collect::<Vec<_>>(),
                WAIT.as_secs(),
                self.states()
            )
        });
        for (_, r) in &seen {
            assert_eq!(r["status"], "0x1", "{what}: transfer failed: {r}");
            assert_eq!(
                r["blockHash"], seen[0].1["blockHash"],
                "{what}: the members hold the transaction in different blocks"
            );
        }
        seen.into_iter().map(|(t, _)| t).collect()
    }
}

/// Polls `done` every [`POLL`]: the instant it first held, `None` after [`WAIT`].
pub(crate) fn wait_for_quiet(mut done: impl FnMut() -> bool) -> Option<Instant> {
    let start = Instant::now();
    loop {
        if done() {
            return Some(Instant::now());
        }
        if start.elapsed() >= WAIT {
            return None;
        }
        std::thread::sleep(POLL);
    }
}
