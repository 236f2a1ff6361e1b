//! Chain store throughput: durable block inserts and canonical reads, next to a raw baseline
//! measured in the same run (append the same bytes to a file and `fdatasync` once per block,
//! the least a durable per-block write can cost). Run: `cargo bench -p cachet-node --bench store`.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256, keccak256};
use cachet_node::store::{BlockRecord, ChainStore};

const BLOCKS: u64 = 2_000;
const HEADER_BYTES: usize = 600;
const BODY_BYTES: usize = 2_000;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocks: Vec<(Vec<u8>, B256)> = (0..BLOCKS)
        .map(|n| {
            let mut header = vec![0xab; HEADER_BYTES];
            header[..8].copy_from_slice(&n.to_be_bytes());
            let hash = keccak256(&header);
            (header, hash)
        })
        .collect();
    let body = vec![0xcd; BODY_BYTES];

    // Baseline: append + fdatasync per block.
    let mut raw = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw.bin"))
        .expect("raw file");
    let start = Instant::now();
    for (header, _) in &blocks {
        raw.write_all(header).expect("write");
        raw.write_all(&body).expect("write");
        raw.sync_data().expect("fdatasync");
    }
    let raw_time = start.elapsed();

    let store = ChainStore::open(&dir.path().join("chain.redb")).expect("open store");
    let start = Instant::now();
    let mut parent = B256::ZERO;
    for (n, (header, hash)) in (0u64..).zip(&blocks) {
        let record = BlockRecord {
            number: n,
            hash: *hash,
            parent_hash: parent,
            difficulty: U256::from(2),
            header_rlp: header,
            body_rlp: &body,
        };
        store.insert_block(&record, true).expect("insert");
        parent = *hash;
    }
    let insert_time = start.elapsed();

    let start = Instant::now();
    for n in 0..BLOCKS {
        let header = store.header_by_number(n).expect("read").expect("present");
        assert_eq!(header.len(), HEADER_BYTES);
    }
    let read_time = start.elapsed();

    let rate = |d: Duration| BLOCKS as f64 / d.as_secs_f64();
    println!(
        "| operation ({BLOCKS} blocks, {HEADER_BYTES} B header, {BODY_BYTES} B body) | blocks/s | vs raw |"
    );
    println!("|---|---:|---:|");
    println!(
        "| raw append + fdatasync per block (baseline) | {:.0} | 1.00 |",
        rate(raw_time)
    );
    println!(
        "| ChainStore::insert_block (canonical, durable) | {:.0} | {:.2} |",
        rate(insert_time),
        raw_time.as_secs_f64() / insert_time.as_secs_f64()
    );
    println!(
        "| ChainStore::header_by_number | {:.0} | — |",
        rate(read_time)
    );
}
