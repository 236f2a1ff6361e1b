//! The in-process BFT network shared by the QBFT (`qbft.rs`) and legacy IBFT (`ibft.rs`) tests:
//! N drivers, each with its own `Chain` in a temporary datadir (real node keys, the seal journal
//! and `qbft-prepared` on disk), connected by the in-memory `MemoryHub`; waits, sync of laggards
//! and the agreement check.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::Address;
use cachet_consensus::ibft;
use cachet_consensus::qbft::Message;
use cachet_devp2p::net::PeerId;
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::Proposals;
use cachet_node::consensus_net::ConsensusFrame;
use cachet_node::doppelganger::{self, Doppelganger, Guard, Watch};
use cachet_node::produce::BuildConfig;
use cachet_node::qbft::{BftEngine, Driver, Event, IbftDriver, MemoryHub, Qbft};
use cachet_node::store::ChainStore;
use cachet_node::testing::VecTxSource;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST, Threshold};
use cachet_seal::{Header, qbft};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub(crate) const GENESIS_TIME: u64 = 1_700_000_000;
pub(crate) const DEADLINE: Duration = Duration::from_secs(300);

pub(crate) struct Running {
    pub(crate) allowed: watch::Sender<bool>,
    pub(crate) task: JoinHandle<()>,
    pub(crate) events: mpsc::UnboundedReceiver<Event>,
}

pub(crate) struct Validator {
    pub(crate) keys: UnlockedKeys,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) chain: Option<Arc<Chain>>,
    pub(crate) running: Option<Running>,
    pub(crate) source: Arc<VecTxSource>,
    /// The pending-vote map its driver proposes from (what the RPC fills).
    pub(crate) proposals: Proposals,
}

impl Validator {
    pub(crate) fn address(&self) -> Address {
        self.keys.node_key().signer().address()
    }

    pub(crate) fn peer(&self) -> PeerId {
        PeerId(self.keys.node_key().enode_id())
    }

    pub(crate) fn chain(&self) -> &Arc<Chain> {
        self.chain.as_ref().expect("chain open")
    }

    pub(crate) fn head(&self) -> u64 {
        self.chain().head().header.number
    }
}

/// Which engine the validators run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// QBFT (`Driver::new`).
    Qbft,
    /// `GoQuorum`'s legacy IBFT (`Driver::ibft`, an `istanbul` genesis).
    Ibft,
}

pub(crate) struct Net {
    pub(crate) kind: Kind,
    pub(crate) hub: Arc<MemoryHub>,
    pub(crate) genesis: Vec<u8>,
    pub(crate) validators: Vec<Validator>,
    pub(crate) addresses: Vec<Address>,
}

/// A QBFT genesis, or with `Kind::Ibft` a `GoQuorum` `istanbul` one (`ceil2Nby3Block` 0),
/// (period 1 s, round-0 timeout `timeout` s) for `validators`, funding `funded`.
fn genesis_json(kind: Kind, validators: &[Address], timeout: u64, funded: &[Address]) -> Vec<u8> {
    let mut sorted = validators.to_vec();
    sorted.sort();
    let (extra, section) = match kind {
        Kind::Qbft => (
            qbft::encode_extra(&BftExtra {
                vanity: vec![0; 32],
                validators: sorted,
                ..BftExtra::default()
            }),
            format!(
                r#""qbft":{{"blockperiodseconds":1,"epochlength":30000,"requesttimeoutseconds":{timeout},"policy":0}}"#
            ),
        ),
        Kind::Ibft => (
            cachet_seal::ibft::IstanbulExtra {
                vanity: [0; 32],
                validators: sorted,
                seal: Vec::new(),
                committed_seals: Vec::new(),
            }
            .encode(),
            format!(
                r#""istanbul":{{"blockperiodseconds":1,"epoch":30000,"requesttimeoutseconds":{timeout},"policy":0,"ceil2Nby3Block":0}}"#
            ),
        ),
    };
    let mut g: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,{section}}},"timestamp":"{GENESIS_TIME:#x}","extraData":"0x{}","gasLimit":"0x1c9c380","difficulty":"0x1","mixHash":"{ISTANBUL_DIGEST}","alloc":{{}}}}"#,
        hex::encode(extra)
    ))
    .unwrap();
    for a in funded {
        g["alloc"][format!("{a:x}")] = serde_json::json!({"balance": "0xde0b6b3a7640000"});
    }
    serde_json::to_vec(&g).unwrap()
}

impl Net {
    /// `n` QBFT validators.
    pub(crate) fn new(n: usize, timeout: u64, funded: &[Address]) -> Self {
        Self::of(Kind::Qbft, n, timeout, funded)
    }

    /// `n` validators of `kind`.
    pub(crate) fn of(kind: Kind, n: usize, timeout: u64, funded: &[Address]) -> Self {
        let validators: Vec<Validator> = (0..n)
            .map(|_| Validator {
                keys: UnlockedKeys::generate_for_tests(SealingKeyMode::Separate),
                dir: tempfile::tempdir().unwrap(),
                chain: None,
                running: None,
                source: Arc::new(VecTxSource::default()),
                proposals: Proposals::default(),
            })
            .collect();
        let mut addresses: Vec<Address> = validators.iter().map(Validator::address).collect();
        addresses.sort();
        let genesis = genesis_json(kind, &addresses, timeout, funded);
        Self {
            kind,
            hub: MemoryHub::new(),
            genesis,
            validators,
            addresses,
        }
    }

    /// Opens validator `i`'s chain (if closed) and starts a new driver on its datadir.
    pub(crate) fn start(&mut self, i: usize) {
        self.start_with(i, None);
    }

    /// [`Self::start`] with the doppelganger check armed for `periods` block periods: the
    /// `Watch` to show it blocks "from peers", and where its finding arrives.
    pub(crate) fn start_guarded(
        &mut self,
        i: usize,
        periods: u32,
    ) -> (Watch, oneshot::Receiver<Doppelganger>) {
        self.open(i);
        let v = &self.validators[i];
        let (watch, guard, found) = doppelganger::arm(v.chain().clone(), v.address(), periods);
        self.start_with(i, Some(guard));
        (watch, found)
    }

    pub(crate) fn open(&mut self, i: usize) {
        let v = &mut self.validators[i];
        if v.chain.is_none() {
            let g = Genesis::from_json(&self.genesis, RaftMarker::FromGenesis).unwrap();
            let store = ChainStore::open(&v.dir.path().join("chain.redb")).unwrap();
            v.chain = Some(Arc::new(Chain::open(store, g).unwrap()));
        }
    }

    pub(crate) fn start_with(&mut self, i: usize, guard: Option<Guard>) {
        self.open(i);
        let v = &mut self.validators[i];
        let (net, inbound) = self.hub.join(v.peer());
        let (allowed_tx, allowed) = watch::channel(true);
        let (events_tx, events) = mpsc::unbounded_channel();
        let build = BuildConfig {
            source: Some(v.source.clone() as Arc<dyn cachet_node::consensus::TxSource>),
            gas_limit: None,
        };
        let (chain, key, dir) = (
            v.chain().clone(),
            v.keys.node_key().signer().clone(),
            v.dir.path(),
        );
        let task = match self.kind {
            Kind::Qbft => {
                let driver = Driver::<Qbft>::new(chain, key, dir, net, allowed, build).unwrap();
                tokio::spawn(configure(driver, events_tx, v.proposals.clone(), guard).run(inbound))
            }
            Kind::Ibft => {
                let driver = IbftDriver::new(chain, key, dir, net, allowed, build).unwrap();
                tokio::spawn(configure(driver, events_tx, v.proposals.clone(), guard).run(inbound))
            }
        };
        v.running = Some(Running {
            allowed: allowed_tx,
            task,
            events,
        });
    }

    /// Turns validator `i`'s sealing switch off (what a revocation does) and waits until its
    /// driver has stopped; with `close`, also closes its chain (a stopped node).
    pub(crate) async fn stop(&mut self, i: usize, close: bool) {
        let v = &mut self.validators[i];
        let running = v.running.take().expect("running");
        running.allowed.send_replace(false);
        tokio::time::timeout(DEADLINE, running.task)
            .await
            .expect("the driver stops when sealing is switched off")
            .unwrap();
        if close {
            v.chain = None;
        }
    }

    pub(crate) fn running(&self) -> Vec<usize> {
        (0..self.validators.len())
            .filter(|i| self.validators[*i].running.is_some())
            .collect()
    }

    /// Waits until every validator in `which` has a head of at least `n`, syncing laggards
    /// meanwhile.
    pub(crate) async fn wait_heads(&self, which: &[usize], n: u64) {
        let done = tokio::time::timeout(DEADLINE, async {
            while !which.iter().all(|i| self.validators[*i].head() >= n) {
                self.sync_laggards();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let heads: Vec<u64> = which.iter().map(|i| self.validators[*i].head()).collect();
        assert!(
            done.is_ok(),
            "validators {which:?} did not reach block {n}: heads {heads:?}"
        );
    }

    /// Waits for an event of validator `i` matching `f`.
    pub(crate) async fn wait_event(&mut self, i: usize, f: impl Fn(&Event) -> bool) -> Event {
        let events = &mut self.validators[i].running.as_mut().expect("running").events;
        tokio::time::timeout(DEADLINE, async {
            loop {
                let ev = events.recv().await.expect("driver running");
                if f(&ev) {
                    return ev;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("validator {i}: the awaited event did not come"))
    }

    /// Imports into validator `to` the blocks validator `from` has above `to`'s head (sync).
    /// An import refused (the driver may have imported the block itself meanwhile) ends the
    /// round; a real disagreement is caught by `assert_agree`.
    pub(crate) fn sync(&self, from: usize, to: usize) {
        let (src, dst) = (self.validators[from].chain(), self.validators[to].chain());
        for n in dst.head().header.number + 1..=src.head().header.number {
            let hash = src.store().canonical_hash(n).unwrap().unwrap();
            let header = src.store().header_by_hash(&hash).unwrap().unwrap();
            let body = src.store().body_by_hash(&hash).unwrap().unwrap_or_default();
            if dst.import(&header, &body).is_err() {
                return;
            }
        }
    }

    /// What a node's sync does: a running validator behind the highest running one imports the
    /// blocks it lacks. A validator that missed a height's messages (started late, or its
    /// frames dropped on a loaded machine) otherwise waits forever while the other three commit.
    pub(crate) fn sync_laggards(&self) {
        let running = self.running();
        let Some(top) = running
            .iter()
            .copied()
            .max_by_key(|i| self.validators[*i].head())
        else {
            return;
        };
        for i in running {
            if self.validators[i].head() < self.validators[top].head() {
                self.sync(top, i);
            }
        }
    }

    /// Turns validator `i`'s sealing switch off (revocation) and waits until the others have
    /// committed 5 more blocks; `i` sends nothing after, and every frame carrying its signature
    /// is a relayed copy of one it signed before. Returns the others' head when it stopped.
    pub(crate) async fn others_go_on_without(&mut self, i: usize) -> u64 {
        let revoked = self.validators[i].address();
        self.stop(i, false).await;
        let mark = self.hub.broadcasts();
        let others: Vec<usize> = self.running();
        let h = others
            .iter()
            .map(|o| self.validators[*o].head())
            .max()
            .unwrap();
        self.wait_heads(&others, h + 5).await;
        let log = self.hub.log();
        let revoked_peer = self.validators[i].peer();
        let signed_before: Vec<_> = log[..mark]
            .iter()
            .filter(|(_, f)| author_of(f) == Some(revoked))
            .map(|(_, f)| f.payload.clone())
            .collect();
        assert!(!signed_before.is_empty(), "validator {i} took part before");
        assert!(log.len() > mark, "the others went on");
        for (from, f) in &log[mark..] {
            assert_ne!(*from, revoked_peer, "the revoked validator sent a frame");
            if author_of(f) == Some(revoked) {
                assert!(
                    signed_before.contains(&f.payload),
                    "the revoked validator signed after its revocation"
                );
            }
        }
        h
    }

    /// Four validators, 3 stopped with its chain closed: stops 2 too (two of four cannot
    /// commit: both survivors go through round changes at the same height without
    /// committing), then restarts 2 and 3 over their datadirs and journals; 3, left behind,
    /// catches up by importing the missing blocks while its driver runs (a block by sync ends
    /// its height). All agree on every block; every driver is stopped at the end.
    pub(crate) async fn stall_and_resume(&mut self) {
        self.stop(2, true).await;
        let stuck = self.validators[0].head() + 1;
        let Event::RoundChanged { height: h0, .. } = self
            .wait_event(0, |e| matches!(e, Event::RoundChanged { height, round } if *height >= stuck && *round >= 2))
            .await
        else {
            unreachable!()
        };
        let Event::RoundChanged { height: h1, .. } = self
            .wait_event(
                1,
                |e| matches!(e, Event::RoundChanged { height, round } if *height >= h0 && *round >= 2),
            )
            .await
        else {
            unreachable!()
        };
        assert_eq!(h0, h1, "the survivors are at the same height");
        assert_eq!(self.validators[0].head(), h0 - 1, "no block without quorum");
        assert_eq!(self.validators[1].head(), h0 - 1, "no block without quorum");
        self.assert_agree(h0 - 1);

        self.start(2);
        self.start(3);
        self.sync(0, 3);
        self.wait_heads(&[0, 1, 2, 3], h0 + 2).await;
        let top = (0..4).map(|i| self.validators[i].head()).min().unwrap();
        self.assert_agree(top);
        for i in self.running() {
            self.stop(i, false).await;
        }
    }

    /// Every open chain holds the same block at heights `1..=up_to`, and each verifies with
    /// `cachet_seal::qbft::verify` (`cachet_seal::ibft::verify` for IBFT: proposer seal and
    /// committed seals) with seals from at least ceil(2N/3) validators.
    pub(crate) fn assert_agree(&self, up_to: u64) {
        let open: Vec<&Validator> = self
            .validators
            .iter()
            .filter(|v| v.chain.is_some())
            .collect();
        for n in 1..=up_to {
            // The block hash (seals filtered out) is what must agree: each validator imports
            // the quorum of committed seals it gathered, which may be a different subset.
            let hashes: Vec<_> = open
                .iter()
                .map(|v| {
                    v.chain()
                        .store()
                        .canonical_hash(n)
                        .unwrap()
                        .expect("block present")
                })
                .collect();
            for h in &hashes[1..] {
                assert_eq!(h, &hashes[0], "validators disagree at height {n}");
            }
            for v in &open {
                let raw = v
                    .chain()
                    .header_rlp_by_number(n)
                    .unwrap()
                    .expect("block present");
                let header = Header::decode(&raw).unwrap();
                let seals = match self.kind {
                    Kind::Qbft => {
                        assert_eq!(qbft::block_hash(&header).unwrap(), hashes[0]);
                        qbft::verify(&header, Some(&self.addresses), Threshold::BesuTwoThirds)
                    }
                    Kind::Ibft => {
                        assert_eq!(cachet_seal::ibft::block_hash(&header).unwrap(), hashes[0]);
                        cachet_seal::ibft::verify(
                            &header,
                            Some(&self.addresses),
                            Threshold::BesuTwoThirds,
                        )
                    }
                }
                .unwrap_or_else(|e| panic!("block {n} does not verify: {e}"));
                let mut committers = seals.committers.clone();
                committers.sort();
                committers.dedup();
                assert!(
                    committers.len() >= (2 * self.addresses.len()).div_ceil(3),
                    "block {n}: {} distinct committers",
                    committers.len()
                );
                assert!(self.addresses.contains(&seals.proposer));
            }
        }
    }
}

/// The author of a QBFT or IBFT frame.
pub(crate) fn author_of(frame: &ConsensusFrame) -> Option<Address> {
    let code = u8::try_from(frame.code).ok()?;
    match Message::decode(code, &frame.payload) {
        Ok(m) => m.author().ok(),
        Err(_) => ibft::Message::decode(code, &frame.payload)
            .ok()?
            .author()
            .ok(),
    }
}

/// A driver with events, the vote map and (optionally) the doppelganger check.
fn configure<E: BftEngine>(
    driver: Driver<E>,
    events: mpsc::UnboundedSender<Event>,
    proposals: Proposals,
    guard: Option<Guard>,
) -> Driver<E> {
    let driver = driver.with_events(events).with_proposals(proposals);
    match guard {
        Some(g) => driver.with_doppelganger(g),
        None => driver,
    }
}
