//! "New slot → announced sealed block": from the moment the clique sealer decides to seal
//! (`CliqueSealer::seal_now` — build the child header, record it, journal the seal, sign with
//! the sealing key, verify and store it durably) until the `NewBlock` message for it arrives
//! at a connected peer over RLPx on 127.0.0.1 (the sync task sees the new head, encodes the
//! block and broadcasts it). The peer-side receipt is an upper bound of "leaving for the peer"
//! (it adds the peer's frame decryption and decode). Next to it, in the same run: a raw
//! secp256k1 recoverable signature (`secp256k1` crate) and the sealing-key handle's
//! `sign_digest`, and the ratio of each row to the raw signature.
//! Run: `cargo bench -p cachet-node --bench seal_announce`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cachet_devp2p::eth::{EthMessage, ForkSchedule};
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig, NetworkEvent};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::store::ChainStore;
use cachet_node::sync_status::SyncStatus;
use tokio::sync::{mpsc, watch};

const BLOCKS: u64 = 200;
const SIGNS: u32 = 5_000;
const GENESIS_TIME: u64 = 1_700_000_000;

fn genesis(signer: alloy_primitives::Address) -> Vec<u8> {
    let extra = format!(
        "0x{}{}{}",
        "00".repeat(32),
        hex::encode(signer),
        "00".repeat(65)
    );
    format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,"clique":{{"period":1,"epoch":30000}}}},"timestamp":"{GENESIS_TIME:#x}","extraData":"{extra}","gasLimit":"0x1c9c380","difficulty":"0x1","alloc":{{}}}}"#
    )
    .into_bytes()
}

fn net_config(chain: &Chain) -> NetworkConfig {
    let gh = chain.genesis_hash();
    let head = chain.head();
    NetworkConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        ChainConfig {
            network_id: 1337,
            genesis: gh,
            forks: ForkSchedule::new(gh, vec![], vec![]),
        },
        ChainHead {
            number: head.header.number,
            hash: head.hash,
            total_difficulty: head.total_difficulty,
            timestamp: head.header.timestamp,
        },
    )
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = v.get(v.len() / 2).copied().map_or(0.0, us);
    let p90 = v.get(v.len() * 9 / 10).copied().map_or(0.0, us);
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len().max(1) as f64;
    (median, p90, mean)
}

async fn next_new_block(events: &mut mpsc::Receiver<NetworkEvent>, number: u64) {
    while let Some(ev) = events.recv().await {
        if let NetworkEvent::Message {
            message: EthMessage::NewBlock { block, .. },
            ..
        } = ev
            && let Ok((header, _)) = cachet_node::block::split_block(&block)
            && cachet_node::chain::decode_header(&header).is_ok_and(|h| h.number == number)
        {
            return;
        }
    }
    panic!("peer events closed before block {number} arrived");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let peer_keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let key = keys.sealing_key();
    let g = Genesis::from_json(&genesis(key.address()), RaftMarker::FromGenesis).expect("genesis");
    let dir = tempfile::tempdir().expect("tmp");
    let store = ChainStore::open(&dir.path().join("chain.redb")).expect("store");
    let chain = Arc::new(Chain::open(store, g.clone()).expect("chain"));
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        keys.sealing_key(),
        Proposals::default(),
    )
    .expect("sealer");
    let (net, events) = Network::start(keys.node_key(), net_config(&chain))
        .await
        .expect("network");
    let net = Arc::new(net);
    let (_stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(cachet_node::sync::run(
        chain.clone(),
        net.clone(),
        events,
        stop_rx,
        SyncStatus::default(),
        None,
        None,
    ));
    // The peer: a bare devp2p service on the same genesis that only listens.
    let peer_dir = tempfile::tempdir().expect("tmp");
    let peer_chain = Chain::open(
        ChainStore::open(&peer_dir.path().join("chain.redb")).expect("store"),
        g,
    )
    .expect("chain");
    let (peer, mut peer_events) = Network::start(peer_keys.node_key(), net_config(&peer_chain))
        .await
        .expect("peer network");
    peer.dial(net.local_enode());
    loop {
        match peer_events.recv().await {
            Some(NetworkEvent::PeerConnected(_)) => break,
            Some(_) => {}
            None => panic!("peer events closed before connecting"),
        }
    }

    let mut sealed = Vec::new();
    let mut announced = Vec::new();
    for n in 1..=BLOCKS {
        let t = Instant::now();
        let header = sealer
            .seal_now(GENESIS_TIME + n)
            .expect("seal")
            .expect("may seal");
        sealed.push(t.elapsed());
        next_new_block(&mut peer_events, header.number).await;
        announced.push(t.elapsed());
    }

    // Raw baselines in the same run.
    let digests: Vec<[u8; 32]> = (0..SIGNS)
        .map(|i| alloy_primitives::keccak256(i.to_be_bytes()).0)
        .collect();
    let sk = secp256k1::SecretKey::new(&mut rand::thread_rng());
    let t = Instant::now();
    for d in &digests {
        let msg = secp256k1::Message::from_digest(*d);
        std::hint::black_box(secp256k1::SECP256K1.sign_ecdsa_recoverable(&msg, &sk));
    }
    let raw = t.elapsed() / SIGNS;
    let t = Instant::now();
    for d in &digests {
        std::hint::black_box(key.sign_digest(d).expect("sign"));
    }
    let handle = t.elapsed() / SIGNS;

    let raw_us = raw.as_secs_f64() * 1e6;
    let gossip: Vec<Duration> = announced
        .iter()
        .zip(&sealed)
        .map(|(a, s)| a.saturating_sub(*s))
        .collect();
    let (gm, gp, ga) = stats(gossip);
    let (sm, sp, sa) = stats(sealed);
    let (am, ap, aa) = stats(announced);
    println!("| what | n | median µs | p90 µs | mean µs | median / raw sign |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!("| raw secp256k1 sign (baseline) | {SIGNS} | {raw_us:.1} | | | 1.0 |");
    let h_us = handle.as_secs_f64() * 1e6;
    println!(
        "| sealing-key handle sign_digest | {SIGNS} | {h_us:.1} | | | {:.1} |",
        h_us / raw_us
    );
    println!(
        "| slot start → sealed + stored (seal_now) | {BLOCKS} | {sm:.0} | {sp:.0} | {sa:.0} | {:.0} |",
        sm / raw_us
    );
    println!(
        "| slot start → NewBlock at the peer | {BLOCKS} | {am:.0} | {ap:.0} | {aa:.0} | {:.0} |",
        am / raw_us
    );
    println!(
        "| of which stored → NewBlock at the peer | {BLOCKS} | {gm:.0} | {gp:.0} | {ga:.0} | {:.1} |",
        gm / raw_us
    );
    peer.shutdown();
    net.shutdown();
}
