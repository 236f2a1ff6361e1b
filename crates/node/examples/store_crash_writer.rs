//! Helper process for the chain store's crash-safety test: appends blocks to the store at
//! `argv[1]` forever, with a reorg now and then, printing `<number> <hash>` after each commit.
//! The test SIGKILLs it at random moments and checks the store on reopen.

use std::io::Write;

use alloy_primitives::{B256, U256, keccak256};
use cachet_node::store::{BlockRecord, ChainStore, Head};
use rand::Rng;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: store-crash-writer DB");
        std::process::exit(2);
    };
    if let Err(e) = run(std::path::Path::new(&path)) {
        eprintln!("store-crash-writer: {e}");
        std::process::exit(1);
    }
}

fn run(path: &std::path::Path) -> Result<(), cachet_node::Error> {
    let store = ChainStore::open(path)?;
    let mut rng = rand::thread_rng();
    let mut stdout = std::io::stdout().lock();
    if store.head()?.is_none() {
        insert(&store, 0, B256::ZERO, 0, &mut stdout)?;
    }
    loop {
        let head = store.head()?.unwrap_or(Head {
            number: 0,
            hash: B256::ZERO,
            total_difficulty: U256::ZERO,
        });
        // One time in eight, fork off up to 3 blocks back and build a longer branch.
        let depth = if rng.gen_ratio(1, 8) {
            rng.gen_range(1..=3).min(head.number)
        } else {
            0
        };
        let mut parent = head.hash;
        for _ in 0..depth {
            parent = store
                .block_info(&parent)?
                .map_or(B256::ZERO, |i| i.parent_hash);
        }
        let mut number = head.number - depth;
        for _ in 0..=depth {
            number += 1;
            parent = insert(&store, number, parent, rng.r#gen(), &mut stdout)?;
        }
    }
}

fn insert(
    store: &ChainStore,
    number: u64,
    parent: B256,
    salt: u64,
    out: &mut impl Write,
) -> Result<B256, cachet_node::Error> {
    // Stand-in header and body bytes of varying size (the store does not decode them).
    let mut header = Vec::new();
    header.extend_from_slice(&number.to_be_bytes());
    header.extend_from_slice(parent.as_slice());
    header.extend_from_slice(&salt.to_be_bytes());
    header.resize(header.len() + (salt % 600) as usize, 0xab);
    let body = vec![0xcd; (salt % 5000) as usize];
    let hash = keccak256(&header);
    store.insert_block(
        &BlockRecord {
            number,
            hash,
            parent_hash: parent,
            difficulty: U256::from(1 + salt % 2),
            header_rlp: &header,
            body_rlp: &body,
        },
        true,
    )?;
    // Printed only after the commit returned: the test expects every printed block stored.
    let _ = writeln!(out, "{number} {hash}");
    let _ = out.flush();
    Ok(hash)
}
