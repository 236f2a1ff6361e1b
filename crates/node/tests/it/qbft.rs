//! Multi-validator QBFT in the node: N `qbft::Driver`s, each with its own `Chain` in a temporary
//! datadir (real node keys, the seal journal and `qbft-prepared` on disk), connected by the
//! in-memory `MemoryHub`. Every validator must hold the same hash at every height and every
//! committed block must verify with `cachet_seal::qbft::verify` (committed seals from at
//! least ceil(2N/3) validators). Faults: a revoked validator (stops signing, the others go
//! on), a second stopped validator (no quorum: rounds change, nothing is committed), both
//! restarted over the same datadirs (progress resumes, the one left behind catches up by
//! importing the blocks as sync would), undecodable frames, lost frames, and blocks with
//! transactions from a `VecTxSource`, and validator votes placed through the JSON-RPC (three
//! of four vote the fourth out). Every wait is for an event, under a generous deadline
//! that only fails the test.
use std::collections::HashMap;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use cachet_consensus::qbft::Message;
use cachet_devp2p::net::PeerId;
use cachet_node::consensus_net::ConsensusFrame;
use cachet_node::doppelganger::{self, Doppelganger};
use cachet_node::qbft::Event;
use cachet_seal::bft::Threshold;
use cachet_seal::{Header, qbft};
use rand::{Rng, SeedableRng};

use super::bft_net::{DEADLINE, Net, author_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_survive_one_fault_stall_at_two_and_resume() {
    let mut net = Net::new(4, 2, &[]);
    for i in 0..4 {
        net.start(i);
    }
    // Undecodable frames from a stranger: logged and counted, never a panic; progress goes on.
    let stranger = PeerId([7; 64]);
    let target = net.validators[0].peer();
    for code in [0x12u64, 0x13, 0x14, 0x15, 0x11, 0x99] {
        net.hub.inject(
            stranger,
            &target,
            ConsensusFrame {
                code,
                payload: vec![0xf8, 0xff, 0x01].into(),
            },
        );
    }
    net.wait_event(0, |e| matches!(e, Event::BadFrame { .. }))
        .await;
    net.wait_heads(&[0, 1, 2, 3], 3).await;
    net.assert_agree(3);

    // Revoke validator 3: it stops signing at once; the others keep committing.
    let h = net.others_go_on_without(3).await;
    // Round-robin gives validator 3 the round-0 turn once in any 4 heights from h + 2 on
    // (h + 1 may have been proposed before the revocation): the others changed round then.
    let chain = net.validators[0].chain();
    let late = (h + 2..=h + 5)
        .filter(|n| {
            let raw = chain.header_rlp_by_number(*n).unwrap().unwrap();
            qbft::decode_extra(&Header::decode(&raw).unwrap().extra_data)
                .unwrap()
                .round
                > 0
        })
        .count();
    assert!(
        late >= 1,
        "no round change while the revoked validator's turn came"
    );
    net.validators[3].chain = None;
    net.stall_and_resume().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seven_validators_agree_with_lost_frames() {
    let mut net = Net::new(7, 2, &[]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    net.hub
        .set_filter(Box::new(move |_, _, _| rng.gen_ratio(1, 10)));
    for i in 0..7 {
        net.start(i);
    }
    let all: Vec<usize> = (0..7).collect();
    net.wait_heads(&all, 4).await;
    net.assert_agree(4);
    for i in all {
        net.stop(i, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_commit_pool_transactions() {
    let sender = secp256k1::SecretKey::from_byte_array(&[0x11; 32]).unwrap();
    let from = crate::build::address_of(&sender);
    let mut net = Net::new(4, 4, &[from]);
    let recipient = Address::repeat_byte(0x22);
    let candidates: Vec<_> = (0..3u64)
        .map(|nonce| {
            let tx = alloy_consensus::TxLegacy {
                chain_id: Some(1337),
                nonce,
                gas_price: 2_000_000_000,
                gas_limit: 21_000,
                to: alloy_primitives::TxKind::Call(recipient),
                value: U256::from(1000 + nonce),
                input: alloy_primitives::Bytes::new(),
            };
            cachet_execution::Candidate {
                tx: crate::build::sign(tx, &sender).into(),
                sender: from,
            }
        })
        .collect();
    for v in &net.validators {
        for c in &candidates {
            v.source.push(c.clone());
        }
    }
    for i in 0..4 {
        net.start(i);
    }
    let expected = U256::from(1000 + 1001 + 1002);
    let done = tokio::time::timeout(DEADLINE, async {
        loop {
            let balances: Vec<U256> = net
                .validators
                .iter()
                .map(|v| {
                    let head = v.chain().head().hash;
                    v.chain()
                        .account(head, &recipient)
                        .unwrap()
                        .map(|a| a.balance)
                        .unwrap_or_default()
                })
                .collect();
            if balances.iter().all(|b| *b == expected) {
                break;
            }
            net.sync_laggards();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "the transfers were not committed on every validator"
    );
    let top = (0..4).map(|i| net.validators[i].head()).min().unwrap();
    net.assert_agree(top);
    // The transfers are in a committed block's body.
    let chain = net.validators[0].chain();
    let mut included: HashMap<u64, usize> = HashMap::new();
    for n in 1..=top {
        let hash = chain.store().canonical_hash(n).unwrap().unwrap();
        let body = chain
            .store()
            .body_by_hash(&hash)
            .unwrap()
            .unwrap_or_default();
        if let Ok(b) = cachet_execution::decode_body(&body) {
            included.insert(n, b.transactions.len());
        }
    }
    assert_eq!(included.values().sum::<usize>(), 3, "{included:?}");
    for i in 0..4 {
        net.stop(i, false).await;
    }
}

/// An RPC server (every namespace) over validator `i`'s chain whose pending votes are the
/// ones its driver proposes from.
async fn serve_rpc(net: &Net, i: usize) -> std::net::SocketAddr {
    use cachet_node::rpc;
    use cachet_node::rpc::access::{self, AccessConfig};
    let v = &net.validators[i];
    let ctx = crate::rpc_state::context(
        v.chain().clone(),
        &v.keys,
        v.proposals.clone(),
        Default::default(),
    )
    .await;
    let access = AccessConfig {
        apis: Some(access::NAMESPACES.iter().map(|s| (*s).to_owned()).collect()),
        audit_dir: Some(v.dir.path().to_owned()),
        ..AccessConfig::default()
    };
    let (handle, addr) = rpc::start_with("127.0.0.1:0".parse().unwrap(), ctx, &access)
        .await
        .unwrap();
    std::mem::forget(handle);
    addr
}

fn lower(a: &Address) -> String {
    format!("{a:#x}")
}

fn lowers(v: &[Address]) -> serde_json::Value {
    serde_json::Value::Array(v.iter().map(|a| lower(a).into()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_validators_vote_the_fourth_out_through_the_rpc() {
    use crate::rpc::call;
    use serde_json::json;
    let mut net = Net::new(4, 2, &[]);
    let all = net.addresses.clone();
    // The one voted out: the validator whose address sorts last.
    let out = *all.last().unwrap();
    let stays: Vec<Address> = all[..3].to_vec();
    let voters: Vec<usize> = (0..4)
        .filter(|i| net.validators[*i].address() != out)
        .collect();
    let leaver = (0..4)
        .find(|i| net.validators[*i].address() == out)
        .unwrap();
    for i in 0..4 {
        net.start(i);
    }
    let mut rpcs = Vec::new();
    for i in 0..4 {
        rpcs.push(serve_rpc(&net, i).await);
    }
    // Before any vote: every validator, both clients' answers.
    assert_eq!(
        call(rpcs[0], "istanbul_getValidators", json!(["latest"])).await["result"],
        lowers(&all)
    );
    assert_eq!(
        call(rpcs[0], "qbft_getValidatorsByBlockNumber", json!(["0x0"])).await["result"],
        lowers(&all)
    );
    // A vote placed and discarded (Besu answers true, GoQuorum null).
    let other = Address::repeat_byte(0x77);
    assert_eq!(
        call(
            rpcs[voters[0]],
            "qbft_proposeValidatorVote",
            json!([other, true])
        )
        .await["result"],
        json!(true)
    );
    assert_eq!(
        call(rpcs[voters[0]], "qbft_getPendingVotes", json!([])).await["result"],
        json!({ lower(&other): true })
    );
    assert_eq!(
        call(rpcs[voters[0]], "qbft_discardValidatorVote", json!([other])).await["result"],
        json!(true)
    );
    assert_eq!(
        call(rpcs[voters[0]], "istanbul_propose", json!([other, false])).await["result"],
        serde_json::Value::Null
    );
    assert_eq!(
        call(rpcs[voters[0]], "istanbul_discard", json!([other])).await["result"],
        serde_json::Value::Null
    );
    assert_eq!(
        call(rpcs[voters[0]], "istanbul_candidates", json!([])).await["result"],
        json!({})
    );
    // A bad parameter is a JSON-RPC error, not a crash.
    let bad = call(
        rpcs[voters[0]],
        "qbft_proposeValidatorVote",
        json!(["0x12", true]),
    )
    .await;
    assert!(bad["error"].is_object(), "{bad}");
    // The three others vote the fourth out, two through Besu's name, one through GoQuorum's.
    for (k, i) in voters.iter().enumerate() {
        let (method, want) = if k < 2 {
            ("qbft_proposeValidatorVote", json!(true))
        } else {
            ("istanbul_propose", serde_json::Value::Null)
        };
        assert_eq!(
            call(rpcs[*i], method, json!([out, false])).await["result"],
            want
        );
        assert_eq!(
            call(rpcs[*i], "istanbul_candidates", json!([])).await["result"],
            json!({ lower(&out): false })
        );
    }
    // Wait until the set after the head no longer holds the fourth, then three more blocks.
    let chain = net.validators[voters[0]].chain().clone();
    let changed = tokio::time::timeout(DEADLINE, async {
        loop {
            let head = chain.head();
            if !chain.rules().validators(&head.hash).unwrap().contains(&out) {
                return head.header.number;
            }
            net.sync_laggards();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the vote did not pass");
    let top = changed + 3;
    net.wait_heads(&[0, 1, 2, 3], top).await;
    // The block where the set changes, from the rules by hand: each block's vote is read from
    // its extraData; a drop of `out` counts once per distinct proposer among the set's
    // validators; more than 4 / 2 = 2 of them, i.e. the third distinct voter's block, removes
    // it. Blocks up to that one list (and are sealed under) all four; later blocks list three.
    let mut voted: Vec<Address> = Vec::new();
    let mut change_at = None;
    for n in 1..=top {
        let raw = chain.header_rlp_by_number(n).unwrap().unwrap();
        let header = Header::decode(&raw).unwrap();
        let extra = qbft::decode_extra(&header.extra_data).unwrap();
        let set: &[Address] = if change_at.is_some() { &stays } else { &all };
        assert_eq!(extra.validators, set, "block {n} lists the wrong set");
        let seals = qbft::verify(&header, Some(set), Threshold::BesuTwoThirds)
            .unwrap_or_else(|e| panic!("block {n} does not verify with its set: {e}"));
        assert!(set.contains(&seals.proposer));
        if change_at.is_some() {
            assert_ne!(
                seals.proposer, out,
                "block {n} proposed by the removed validator"
            );
            assert!(
                !seals.committers.contains(&out),
                "block {n} sealed by the removed one"
            );
        }
        if let Some(v) = extra.vote {
            assert_eq!(v.recipient, out, "block {n} votes on someone else");
            assert!(!v.authorize);
            assert_ne!(seals.proposer, out, "the one voted on does not vote");
            assert!(change_at.is_none(), "block {n} votes after the change");
            if !voted.contains(&seals.proposer) {
                voted.push(seals.proposer);
            }
            if voted.len() == 3 {
                change_at = Some(n);
            }
        }
    }
    let k = change_at.expect("three distinct votes were committed");
    // The chain's snapshots change at the same block.
    let after = |n: u64| {
        let h = chain.store().canonical_hash(n).unwrap().unwrap();
        chain.rules().validators(&h).unwrap()
    };
    assert_eq!(after(k - 1), all, "set after block {}", k - 1);
    assert_eq!(after(k), stays, "set after block {k}");
    // Every running validator, the one voted out included (it follows by sync), agrees.
    for v in &net.validators {
        let c = v.chain();
        for n in 1..=top {
            assert_eq!(
                c.store().canonical_hash(n).unwrap(),
                chain.store().canonical_hash(n).unwrap()
            );
        }
        let head = c.head();
        assert_eq!(c.rules().validators(&head.hash).unwrap(), stays);
    }
    // The RPCs: GoQuorum's answer at block n is the set after it, Besu's the set block n lists.
    let at = |n: u64| json!([format!("{n:#x}")]);
    let r = rpcs[leaver];
    assert_eq!(
        call(r, "istanbul_getValidators", at(k - 1)).await["result"],
        lowers(&all)
    );
    assert_eq!(
        call(r, "istanbul_getValidators", at(k)).await["result"],
        lowers(&stays)
    );
    assert_eq!(
        call(r, "qbft_getValidatorsByBlockNumber", at(k)).await["result"],
        lowers(&all)
    );
    assert_eq!(
        call(r, "qbft_getValidatorsByBlockNumber", at(k + 1)).await["result"],
        lowers(&stays)
    );
    assert_eq!(
        call(r, "qbft_getValidatorsByBlockNumber", json!(["pending"])).await["result"],
        lowers(&stays)
    );
    assert_eq!(
        call(r, "qbft_getValidatorsByBlockNumber", json!(["0xffffff"])).await["result"],
        serde_json::Value::Null
    );
    let hash_k = chain.store().canonical_hash(k).unwrap().unwrap();
    assert_eq!(
        call(r, "istanbul_getValidatorsAtHash", json!([hash_k])).await["result"],
        lowers(&stays)
    );
    assert_eq!(
        call(r, "qbft_getValidatorsByBlockHash", json!([hash_k])).await["result"],
        lowers(&all)
    );
    assert_eq!(
        call(
            r,
            "qbft_getValidatorsByBlockHash",
            json!([alloy_primitives::B256::repeat_byte(9)])
        )
        .await["result"],
        serde_json::Value::Null
    );
    for i in 0..4 {
        net.stop(i, false).await;
    }
}

/// Block `n` of validator `i`'s chain.
fn header_of(net: &Net, i: usize, n: u64) -> Header {
    let raw = net.validators[i]
        .chain()
        .header_rlp_by_number(n)
        .unwrap()
        .expect("block present");
    Header::decode(&raw).unwrap()
}

/// The doppelganger check's finding, once the guard reports it.
async fn reported(found: tokio::sync::oneshot::Receiver<Doppelganger>) -> Doppelganger {
    tokio::time::timeout(DEADLINE, found)
        .await
        .expect("the doppelganger is reported")
        .expect("finding sent")
}

/// What a second copy of validator `i` would send: `header` changed (a later timestamp, so
/// another block at the same height and round) and committed with validator `i`'s key.
fn forged_by(net: &Net, i: usize, header: &Header) -> Header {
    let other = Header {
        timestamp: header.timestamp + 1,
        ..header.clone()
    };
    let other = qbft::with_committed_seals(&other, &[]).unwrap();
    let seal = qbft::sign_commit(&other, net.validators[i].keys.node_key().signer()).unwrap();
    qbft::with_committed_seals(&other, &[seal]).unwrap()
}

/// The doppelganger check covers the driver (decision 470): validator 0 runs with the check
/// armed; a block peers send carrying its own committed seal passes (its journal holds the
/// digest at that height and round), a block of the same height committed with its key that
/// it never signed stops the driver and is reported (number, hash, signer, peer), and the
/// other three keep committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbft_driver_stops_on_a_block_committed_with_its_key_elsewhere() {
    let mut net = Net::new(4, 2, &[]);
    let (watch, found) = net.start_guarded(0, 1);
    for i in 1..4 {
        net.start(i);
    }
    net.wait_heads(&[0, 1, 2, 3], 3).await;
    let me = net.validators[0].address();
    let head = net.validators[0].head();
    let ours = (1..=head)
        .map(|n| header_of(&net, 0, n))
        .find(|h| qbft::recover_committers(h).unwrap().contains(&me))
        .expect("validator 0 committed a block");
    let forged = forged_by(&net, 0, &ours);
    assert_ne!(
        qbft::block_hash(&forged).unwrap(),
        qbft::block_hash(&ours).unwrap()
    );
    // Judged in order: the genuine block first, so a finding for it would come first.
    watch.inspect(&"peer-a", &ours.encode());
    watch.inspect(&"peer-b", &forged.encode());
    let found = reported(found).await;
    assert_eq!(
        found,
        Doppelganger {
            what: doppelganger::Evidence::Block,
            number: ours.number,
            hash: qbft::block_hash(&forged).unwrap(),
            signer: me,
            peer: "peer-b".into(),
        }
    );
    let running = net.validators[0].running.take().unwrap();
    tokio::time::timeout(DEADLINE, running.task)
        .await
        .expect("the driver stops on a doppelganger")
        .unwrap();
    let h = (1..4).map(|i| net.validators[i].head()).max().unwrap();
    net.wait_heads(&[1, 2, 3], h + 2).await;
    for i in 1..4 {
        net.stop(i, false).await;
    }
}

/// Before its first signature the driver listens for the guard's window: with a window far
/// longer than the test, validator 0 signs nothing (its seal journal stays empty) while the
/// other three commit; a block committed with its key arriving meanwhile is reported and the
/// driver never starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbft_driver_listens_before_signing_and_stops_on_a_doppelganger_in_its_window() {
    let mut net = Net::new(4, 2, &[]);
    let (watch, found) = net.start_guarded(0, 10_000);
    for i in 1..4 {
        net.start(i);
    }
    net.wait_heads(&[1, 2, 3], 2).await;
    let forged = forged_by(&net, 0, &header_of(&net, 1, 2));
    watch.inspect(&"peer-c", &forged.encode());
    let found = reported(found).await;
    assert_eq!((found.number, found.peer.as_str()), (2, "peer-c"));
    let mut running = net.validators[0].running.take().unwrap();
    tokio::time::timeout(DEADLINE, &mut running.task)
        .await
        .expect("the driver stops on a doppelganger")
        .unwrap();
    let mut seen = Vec::new();
    while let Ok(e) = running.events.try_recv() {
        seen.push(e);
    }
    assert!(seen.is_empty(), "validator 0 ran a height: {seen:?}");
    let journal = cachet_seal::SealJournal::open(net.validators[0].dir.path()).unwrap();
    assert!(journal.is_empty(), "validator 0 signed during its window");
    for i in 1..4 {
        net.stop(i, false).await;
    }
}

/// Decision 528: a proposer stopped after its PRE-PREPARE, before the height was decided,
/// proposes the same block again when restarted (its journal holds that digest for round 0
/// and would refuse any other block there), so the height commits at round 0 instead of
/// waiting out the round timeout (30 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_proposer_proposes_its_block_again_and_the_height_commits_at_round_zero() {
    let mut net = Net::new(2, 30, &[]);
    // Height 1's round-0 proposer: the one of the two that proposes when started alone.
    let mut proposer = None;
    for i in 0..2 {
        net.start(i);
        let proposed = tokio::time::timeout(
            Duration::from_secs(5),
            net.wait_event(i, |e| matches!(e, Event::Proposed { height: 1, .. })),
        )
        .await;
        if let Ok(Event::Proposed { round, digest, .. }) = proposed {
            assert_eq!(round, 0);
            proposer = Some((i, digest));
            break;
        }
        net.stop(i, true).await;
    }
    let (p, digest) = proposer.expect("one of the two proposes height 1 at round 0");
    // Stopped before anyone else saw the proposal; a block built now would carry a later
    // timestamp (another digest).
    net.stop(p, true).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The other one first, so that it is on the hub when the proposal goes out.
    let other = 1 - p;
    net.start(other);
    net.start(p);
    let again = net
        .wait_event(p, |e| matches!(e, Event::Proposed { height: 1, .. }))
        .await;
    assert!(
        matches!(again, Event::Proposed { round: 0, digest: d, .. } if d == digest),
        "the restarted proposer proposed {again:?}, not its recorded block {digest}"
    );
    let committed = net
        .wait_event(p, |e| matches!(e, Event::Committed { height: 1, .. }))
        .await;
    assert!(
        matches!(committed, Event::Committed { round: 0, .. }),
        "height 1 committed as {committed:?}, not at round 0"
    );
    net.wait_heads(&[0, 1], 1).await;
    net.assert_agree(1);
}

/// The doppelganger check also judges consensus messages that may never reach a block
/// (decision 533). Validator 0 never hears a COMMIT, so it stays at height 1 after signing a
/// PREPARE and a COMMIT there while the other three go on. Restarted with the check armed, it is
/// sent its own two messages back (a peer relaying them): they pass, as its journal holds their
/// digest at that height and round. Then a PREPARE for the same height and round over another
/// digest, signed with its key, arrives: the driver reports it and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qbft_driver_stops_on_a_prepare_signed_with_its_key_elsewhere_and_passes_its_own() {
    let mut net = Net::new(4, 2, &[]);
    let deaf = net.validators[0].peer();
    net.hub.set_filter(Box::new(move |_, to, frame| {
        *to == deaf && frame.code == cachet_consensus::qbft::Code::Commit as u64
    }));
    for i in 0..4 {
        net.start(i);
    }
    // `wait_heads` would sync validator 0 too: only the other three catch up with each other.
    let three = tokio::time::timeout(DEADLINE, async {
        while (1..4).any(|i| net.validators[i].head() < 2) {
            let top = (1..4).max_by_key(|i| net.validators[*i].head()).unwrap();
            for i in 1..4 {
                net.sync(top, i);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    three.await.expect("validators 1-3 reach block 2");
    let me = net.validators[0].address();
    let ours = |code: cachet_consensus::qbft::Code| {
        net.hub.log().into_iter().map(|(_, f)| f).find(|f| {
            f.code == code as u64
                && author_of(f) == Some(me)
                && Message::decode(code as u8, &f.payload).unwrap().view().0 == 1
        })
    };
    let own: Vec<ConsensusFrame> = [
        cachet_consensus::qbft::Code::Prepare,
        cachet_consensus::qbft::Code::Commit,
    ]
    .into_iter()
    .map(|c| {
        ours(c).unwrap_or_else(|| {
            let sent: Vec<_> = net
                .hub
                .log()
                .into_iter()
                .filter(|(_, f)| author_of(f) == Some(me))
                .map(|(_, f)| {
                    let m = Message::decode(u8::try_from(f.code).unwrap(), &f.payload).unwrap();
                    (m.code().name(), m.view())
                })
                .collect();
            panic!(
                "validator 0 sent no {} at height 1: it sent {sent:?}",
                c.name()
            )
        })
    })
    .collect();
    net.stop(0, false).await;
    assert_eq!(
        net.validators[0].head(),
        0,
        "validator 0 committed height 1"
    );

    let (_watch, found) = net.start_guarded(0, 1);
    let from = net.validators[1].peer();
    for frame in &own {
        net.hub
            .inject(from, &net.validators[0].peer(), frame.clone());
    }
    let digest = alloy_primitives::B256::repeat_byte(0x5a);
    let v0 = &net.validators[0];
    let forged = Message::Prepare(
        cachet_consensus::qbft::message::Signed::sign(
            cachet_consensus::qbft::message::Prepare {
                sequence: 1,
                round: 0,
                digest,
            },
            &cachet_consensus::qbft::AlloySigner::new(v0.keys.node_key().signer(), me),
        )
        .unwrap(),
    );
    let frame = ConsensusFrame {
        code: forged.code() as u64,
        payload: forged.encode().into(),
    };
    net.hub.inject(from, &v0.peer(), frame);
    let found = reported(found).await;
    assert_eq!(
        found,
        Doppelganger {
            what: doppelganger::Evidence::Message {
                kind: "PREPARE",
                round: 0
            },
            number: 1,
            hash: digest,
            signer: me,
            peer: from.to_string(),
        }
    );
    let running = net.validators[0].running.take().unwrap();
    tokio::time::timeout(DEADLINE, running.task)
        .await
        .expect("the driver stops on a doppelganger")
        .unwrap();
    for i in 1..4 {
        net.stop(i, false).await;
    }
}
