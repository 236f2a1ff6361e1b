//! Signature work per QBFT height next to the raw secp256k1 cost of the same signatures.
//!
//! N validators in one process, every broadcast delivered at once to every other validator (no
//! loss, no clock), `CACHET_BENCH_HEIGHTS` heights (default 200). The baseline, measured in the
//! same run, is the raw libsecp256k1 cost of the signatures the height needs: the signs the
//! validators made (counted) and the recoveries each validator cannot avoid — the proposal,
//! N PREPAREs, and a quorum of COMMITs with their seals: N·(1 + N + 2·⌈2N/3⌉). Release build:
//! `cargo bench -p cachet-consensus --bench height`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Instant;

use alloy_primitives::{Address, B256, U256, keccak256};
use cachet_consensus::qbft::validators::{ProposerPolicy, quorum};
use cachet_consensus::qbft::{
    Block, BlockCheck, Config, Env, Input, MemoryJournal, Message, Output, SignError, Signer, State,
};
use cachet_primitives::Header;
use cachet_seal::bft::ISTANBUL_DIGEST;
use cachet_seal::qbft as seal;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as Digest, PublicKey, SECP256K1, SecretKey};

struct Key {
    secret: SecretKey,
    address: Address,
    signs: Cell<u64>,
}

impl Key {
    fn new(i: u64) -> Self {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&(i + 0x1000).to_be_bytes());
        b[0] = 0x42;
        let secret = SecretKey::from_slice(&b).expect("key");
        let public = PublicKey::from_secret_key(SECP256K1, &secret);
        let address = Address::from_word(keccak256(&public.serialize_uncompressed()[1..]));
        Self {
            secret,
            address,
            signs: Cell::new(0),
        }
    }
}

impl Signer for Key {
    fn address(&self) -> Address {
        self.address
    }

    fn sign(&self, digest: &B256) -> Result<[u8; 65], SignError> {
        self.signs.set(self.signs.get() + 1);
        let sig = SECP256K1.sign_ecdsa_recoverable(&Digest::from_digest(digest.0), &self.secret);
        let (id, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = i32::from(id) as u8;
        Ok(out)
    }
}

struct Any;

impl BlockCheck for Any {
    fn check(&self, _: u64, _: &Block) -> Result<(), String> {
        Ok(())
    }
}

fn block(validators: &[Address], proposer: Address, height: u64) -> Block {
    let header = Header {
        number: height,
        beneficiary: proposer,
        timestamp: height,
        difficulty: U256::from(1),
        mix_hash: ISTANBUL_DIGEST,
        extra_data: seal::encode_extra(&seal::BftExtra {
            vanity: vec![0; 32],
            validators: validators.to_vec(),
            vote: None,
            round: 0,
            committed_seals: vec![],
        })
        .into(),
        ..Header::default()
    };
    Block::new(header, &[0xc0], &[0xc0]).expect("block")
}

/// Runs `heights` heights; returns (seconds, signs).
fn protocol(n: usize, heights: u64) -> (f64, u64) {
    let mut keys: Vec<Key> = (1..=n as u64).map(Key::new).collect();
    keys.sort_by_key(|k| k.address);
    let validators: Vec<Address> = keys.iter().map(|k| k.address).collect();
    let mut journals: Vec<MemoryJournal> = (0..n).map(|_| MemoryJournal::default()).collect();
    let mut last = Address::ZERO;
    let start = Instant::now();
    for h in 1..=heights {
        let cfg = Config {
            validators: validators.clone(),
            last_proposer: last,
            policy: ProposerPolicy::RoundRobin,
            request_timeout_ms: 1000,
            max_request_timeout_ms: 0,
        };
        let mut states: Vec<State> = (0..n)
            .map(|i| State::new(h, cfg.clone(), &journals[i]))
            .collect();
        let mut queue: VecDeque<(usize, Input)> = (0..n).map(|i| (i, Input::Start)).collect();
        let mut decided = 0;
        while let Some((i, input)) = queue.pop_front() {
            let mut env = Env {
                signer: &keys[i],
                journal: &mut journals[i],
                blocks: &Any,
            };
            for o in states[i].handle(&mut env, input) {
                match o {
                    Output::Broadcast(m) => {
                        let bytes = m.encode();
                        for j in (0..n).filter(|j| *j != i) {
                            let m = Message::decode(m.code() as u8, &bytes).expect("decodes");
                            queue.push_back((j, Input::Message(m)));
                        }
                    }
                    Output::BuildBlock { .. } => {
                        queue.push_back((i, Input::Block(block(&validators, keys[i].address, h))));
                    }
                    Output::Committed { header, .. } => {
                        decided += 1;
                        last = header.beneficiary;
                    }
                    Output::SetTimer { .. } | Output::Ignored(_) => {}
                }
            }
        }
        assert_eq!(decided, n, "every validator decides height {h}");
    }
    let signs = keys.iter().map(|k| k.signs.get()).sum();
    (start.elapsed().as_secs_f64(), signs)
}

/// The raw cost of `signs` signatures and `recovers` recoveries.
fn raw(signs: u64, recovers: u64) -> f64 {
    let key = Key::new(1);
    let digest = B256::repeat_byte(7);
    let sig = key.sign(&digest).expect("sign");
    let rsig = RecoverableSignature::from_compact(
        &sig[..64],
        RecoveryId::try_from(i32::from(sig[64])).expect("id"),
    )
    .expect("sig");
    let start = Instant::now();
    for i in 0..signs {
        let d = keccak256(i.to_be_bytes());
        std::hint::black_box(key.sign(&d).expect("sign"));
    }
    for _ in 0..recovers {
        std::hint::black_box(
            SECP256K1
                .recover_ecdsa(&Digest::from_digest(digest.0), &rsig)
                .expect("recover"),
        );
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let heights: u64 = std::env::var("CACHET_BENCH_HEIGHTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    println!(
        "| N | heights | protocol ms/height | signs/height | min. recoveries/height | raw secp256k1 ms/height | protocol / raw |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for n in [4usize, 7] {
        let (secs, signs) = protocol(n, heights);
        let recovers = heights * (n * (1 + n + 2 * quorum(n))) as u64;
        let base = raw(signs, recovers);
        let per = |s: f64| s * 1000.0 / heights as f64;
        println!(
            "| {n} | {heights} | {:.3} | {} | {} | {:.3} | {:.2} |",
            per(secs),
            signs / heights,
            recovers / heights,
            per(base),
            secs / base
        );
    }
}
