//! The rules on an in-process cluster: only the leader mints, blocks signed by a non-member or
//! by a member that did not lead the term are refused with the rule named, a former leader's
//! uncommitted block is discarded, membership changes (a removed id never returns).
#![allow(
    clippy::field_reassign_with_default,
    reason = "raft-rs's protobuf structs are built field by field"
)]

mod common;

use cachet_raft::eraftpb::{ConfChangeType, Entry, Message, MessageType};
use cachet_raft::{Error, RaftRule, StateRole, rules};
use common::{Cluster, TestKey, memory_db, mint};

fn elected(seed: u64, n: u64) -> (Cluster, u64) {
    let mut c = Cluster::new(seed, n);
    c.max_delay = 1;
    for _ in 0..400 {
        c.tick();
        if c.leader().is_some() && c.min_height() >= 2 {
            break;
        }
    }
    let l = c.leader().expect("a leader within 400 ticks");
    assert!(c.failures.is_empty(), "{:?}", c.failures);
    (c, l)
}

fn rule(r: cachet_raft::Result<impl std::fmt::Debug>) -> RaftRule {
    match r {
        Err(Error::Rule(rule)) => rule,
        other => panic!("expected a rule, got {other:?}"),
    }
}

/// A `MsgAppend` from `leader` to `to` carrying one block entry right after `to`'s log.
fn append_with(c: &mut Cluster, leader: u64, to: u64, block: Vec<u8>) -> Message {
    let term = c.node(leader).term();
    let follower = c.node(to);
    let last = follower.last_index();
    let mut e = Entry::default();
    e.term = term;
    e.index = last + 1;
    e.data = block.into();
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgAppend);
    m.from = leader;
    m.to = to;
    m.term = term;
    m.index = last;
    m.log_term = term;
    m.entries = vec![e].into();
    m
}

#[test]
fn only_the_leader_mints_one_block_at_a_time() {
    let (mut c, l) = elected(1, 3);
    c.mint_p = 0.0;
    c.run(20);
    for id in 1..=3 {
        let head = c.members[&id].head();
        let key = c.members[&id].key.clone();
        let (_, block) = mint(&key, id as u16, head, 99, id);
        if id == l {
            assert!(c.node(id).may_mint());
            c.node(id).propose_block(block).unwrap();
            // Outstanding until committed and handed out.
            assert!(!c.node(id).may_mint());
            let (_, again) = mint(&key, id as u16, head, 99, 100 + id);
            assert_eq!(
                rule(c.node(id).propose_block(again)),
                RaftRule::MintOutstanding
            );
        } else {
            assert!(!c.node(id).may_mint());
            assert_eq!(
                rule(c.node(id).propose_block(block)),
                RaftRule::NotLeader {
                    raft_id: id,
                    leader: l
                }
            );
        }
    }
    c.run(20);
    assert!(
        c.node(l).may_mint(),
        "the block commits and minting resumes"
    );
    assert!(c.failures.is_empty(), "{:?}", c.failures);
}

#[test]
fn the_leader_refuses_to_propose_a_block_signed_by_another_member() {
    let (mut c, l) = elected(2, 3);
    c.mint_p = 0.0;
    c.run(20);
    let other = if l == 1 { 2 } else { 1 };
    let head = c.members[&l].head();
    let (hash, block) = mint(&TestKey::numbered(other), other as u16, head, 50, 7);
    let term = c.node(l).term();
    assert_eq!(
        rule(c.node(l).propose_block(block)),
        RaftRule::NotLeaderOfTerm {
            term,
            leader: l,
            signer: other,
            hash
        }
    );
}

#[test]
fn a_follower_refuses_appends_of_blocks_not_signed_by_the_leader_of_the_term() {
    let (mut c, l) = elected(3, 3);
    c.mint_p = 0.0;
    c.run(20);
    let f = if l == 1 { 2 } else { 1 };
    let other = 6 - l - f;
    let head = c.members[&f].head();
    let before = c.node(f).last_index();

    // Signed by a member that did not lead this term.
    let (hash, block) = mint(&TestKey::numbered(other), other as u16, head, 9, 1);
    let msg = append_with(&mut c, l, f, block);
    let term = msg.term;
    assert_eq!(
        rule(c.node(f).step(l, msg)),
        RaftRule::NotLeaderOfTerm {
            term,
            leader: l,
            signer: other,
            hash
        }
    );
    // Signed by a key that is no member, under a raft id that is none.
    let (hash, block) = mint(&TestKey::numbered(9), 9, head, 9, 2);
    let msg = append_with(&mut c, l, f, block);
    assert_eq!(
        rule(c.node(f).step(l, msg)),
        RaftRule::NotMember { raft_id: 9, hash }
    );
    // A member's raft id with a key that is not that member's.
    let (hash, block) = mint(&TestKey::numbered(9), l as u16, head, 9, 3);
    let msg = append_with(&mut c, l, f, block);
    assert_eq!(
        rule(c.node(f).step(l, msg)),
        RaftRule::SignerMismatch { raft_id: l, hash }
    );
    // Nothing was appended.
    assert_eq!(c.node(f).last_index(), before);
    // The leader's own block in the same shape is taken.
    let (_, block) = mint(&TestKey::numbered(l), l as u16, head, 9, 4);
    let msg = append_with(&mut c, l, f, block);
    c.node(f).step(l, msg).unwrap();
    assert_eq!(c.node(f).last_index(), before + 1);
}

#[test]
fn the_commit_rule_names_the_refusal() {
    let (c, _) = elected(4, 3);
    let members = c.members[&1]
        .node
        .as_ref()
        .unwrap()
        .storage()
        .members()
        .clone();
    let parent = alloy_primitives::B256::ZERO;
    let (hash, by2) = mint(&TestKey::numbered(2), 2, parent, 1, 1);
    assert_eq!(
        rules::check_committed(5, 3, &by2, &members, Some(1)),
        Err(RaftRule::NotLeaderOfTerm {
            term: 3,
            leader: 1,
            signer: 2,
            hash
        })
    );
    assert_eq!(
        rules::check_committed(5, 3, &by2, &members, Some(2))
            .unwrap()
            .minter,
        2
    );
    let (hash, outsider) = mint(&TestKey::numbered(7), 7, parent, 1, 1);
    assert_eq!(
        rules::check_committed(5, 3, &outsider, &members, None),
        Err(RaftRule::NotMember { raft_id: 7, hash })
    );
    assert!(matches!(
        rules::check_committed(5, 3, b"\xc0", &members, None),
        Err(RaftRule::Unreadable { index: 5, .. })
    ));
}

#[test]
fn members_refuse_proposals_impostors_and_local_messages() {
    let (mut c, l) = elected(5, 3);
    let f = if l == 1 { 2 } else { 1 };
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgPropose);
    m.from = f;
    m.to = l;
    m.entries = vec![Entry::default()].into();
    assert_eq!(
        rule(c.node(l).step(f, m.clone())),
        RaftRule::ForwardedProposal { from: f }
    );
    assert_eq!(
        rule(c.node(l).step(3 - f % 3, m.clone())),
        RaftRule::WrongSender {
            claimed: f,
            proven: 3 - f % 3
        }
    );
    m.to = 42;
    assert_eq!(
        rule(c.node(l).step(f, m.clone())),
        RaftRule::WrongRecipient { to: 42, me: l }
    );
    m.to = l;
    m.set_msg_type(MessageType::MsgHup);
    assert_eq!(
        rule(c.node(l).step(f, m)),
        RaftRule::LocalMessage {
            from: f,
            msg_type: 0
        }
    );
}

#[test]
fn a_former_leaders_uncommitted_block_is_discarded() {
    let (mut c, l) = elected(6, 3);
    c.mint_p = 0.0;
    c.run(20);
    // Cut the leader off, then let it mint: its block never leaves.
    for id in 1..=3 {
        if id != l {
            c.cut.insert((l, id));
            c.cut.insert((id, l));
        }
    }
    let head = c.members[&l].head();
    let key = c.members[&l].key.clone();
    let (orphan, block) = mint(&key, l as u16, head, 77, 77);
    c.node(l).propose_block(block).unwrap();
    c.mint_p = 1.0;
    c.run(200);
    let new_leader = c.leader().unwrap();
    assert_ne!(new_leader, l);
    c.cut.clear();
    c.run(200);
    assert!(c.stats.discarded >= 1, "the old leader discarded its block");
    for m in c.members.values() {
        assert!(!m.chain.contains(&orphan), "member {} applied it", m.id);
    }
    c.check_prefixes();
    assert!(c.failures.is_empty(), "{:?}", c.failures);
    assert_eq!(c.node(l).role(), StateRole::Follower);
}

#[test]
fn membership_changes_through_the_log_and_removed_ids_never_return() {
    let (mut c, l) = elected(7, 3);
    c.run(30);
    let f = if l == 1 { 2 } else { 1 };
    // Only the leader changes membership.
    assert!(matches!(
        rule(c.node(f).add_peer(&TestKey::numbered(4).public)),
        RaftRule::NotLeader { .. }
    ));
    // A member's key cannot be added twice.
    assert_eq!(
        rule(c.node(l).add_peer(&TestKey::numbered(f).public)),
        RaftRule::KeyInUse { raft_id: f }
    );
    let id4 = c.node(l).add_peer(&TestKey::numbered(4).public).unwrap();
    assert_eq!(id4, 4);
    // One change at a time.
    assert!(matches!(
        rule(c.node(l).add_learner(&TestKey::numbered(5).public)),
        RaftRule::Membership(_)
    ));
    c.run(30);
    // The new member starts empty and catches up through the snapshot and the log.
    c.add_member(4, memory_db());
    c.run(300);
    let l = c.leader().unwrap();
    assert_eq!(
        c.node(l)
            .storage()
            .members()
            .voters()
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(
        c.members[&4].chain.len() + 3 >= c.max_height(),
        "member 4 follows"
    );

    let id5 = c.node(l).add_learner(&TestKey::numbered(5).public).unwrap();
    assert_eq!(id5, 5);
    c.run(30);
    c.add_member(5, memory_db());
    c.run(100);
    let l = c.leader().unwrap();
    assert_eq!(
        c.node(l).storage().members().role(5),
        Some(cachet_raft::Role::Learner)
    );
    c.node(l).promote(5).unwrap();
    c.run(60);
    let l = c.leader().unwrap();
    assert_eq!(
        c.node(l).storage().members().role(5),
        Some(cachet_raft::Role::Voter)
    );

    // Remove a follower; its id is never handed out again.
    let gone = (1..=5).find(|i| *i != l).unwrap();
    c.node(l).remove(gone).unwrap();
    c.run(100);
    assert!(c.members[&gone].removed, "the removed member learnt it");
    let l = c.leader().unwrap();
    assert!(c.node(l).storage().members().removed().contains(&gone));
    assert_eq!(
        rule(c.node(l).step(gone, {
            let mut m = Message::default();
            m.set_msg_type(MessageType::MsgHeartbeatResponse);
            m.from = gone;
            m.to = l;
            m
        })),
        RaftRule::RemovedId { raft_id: gone }
    );
    let id6 = c.node(l).add_peer(&TestKey::numbered(6).public).unwrap();
    assert_eq!(id6, 6);
    c.run(60);
    // A crafted change re-adding the removed id is committed and ignored by every member.
    let l = c.leader().unwrap();
    c.node(l)
        .propose_membership(
            ConfChangeType::AddNode,
            gone,
            Some(&TestKey::numbered(gone).public),
        )
        .unwrap();
    c.run(60);
    for m in c.members.values() {
        if let Some(n) = &m.node
            && !m.removed
            && m.id <= 5
        {
            assert!(
                n.storage().members().role(gone).is_none(),
                "member {} took the removed id back",
                m.id
            );
        }
    }
    c.check_prefixes();
    assert!(c.failures.is_empty(), "{:?}", c.failures);
}

#[test]
fn a_term_whose_leader_was_never_seen_is_named_by_its_first_block() {
    use cachet_raft::{Batch, Config, Event, RaftNode, RedbStorage};

    // A member restarts with two committed entries of term 2 it never saw a leader for: the
    // first block (by 1) names the leader, the second (by 2) is refused with the rule.
    let db = memory_db();
    let mut s = RedbStorage::open(db).unwrap();
    let founders: Vec<_> = (1..=3).map(|i| (i, TestKey::numbered(i).public)).collect();
    s.initialize(&founders, b"").unwrap();
    let (h1, b1) = mint(&TestKey::numbered(1), 1, alloy_primitives::B256::ZERO, 1, 1);
    let (h2, b2) = mint(&TestKey::numbered(2), 2, h1, 2, 2);
    let entry = |index, data: Vec<u8>| {
        let mut e = Entry::default();
        e.term = 2;
        e.index = index;
        e.data = data.into();
        e
    };
    let mut hs = cachet_raft::eraftpb::HardState::default();
    hs.term = 2;
    hs.commit = 3;
    s.write(Batch {
        entries: vec![entry(2, b1), entry(3, b2)],
        hard_state: Some(hs),
        ..Batch::default()
    })
    .unwrap();
    let mut node = RaftNode::new(&Config::new(3), s).unwrap();
    let events = node.ready().unwrap().unwrap().events;
    let blocks: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Block { index, block, .. } => Some((*index, block.hash)),
            _ => None,
        })
        .collect();
    assert_eq!(blocks, vec![(2, h1)]);
    assert!(events.contains(&Event::Refused {
        index: 3,
        term: 2,
        rule: RaftRule::NotLeaderOfTerm {
            term: 2,
            leader: 1,
            signer: 2,
            hash: h2
        }
    }));
    assert_eq!(node.leader_of(2), Some(1));
}

#[test]
fn a_leader_stepping_down_hands_over_to_an_up_to_date_voter() {
    let (mut c, l) = elected(7, 3);
    let target = c
        .node(l)
        .transfer_target()
        .expect("a leader of three has a transfer target");
    assert_ne!(target, l);
    assert!(c.node(l).storage().members().voters().contains(&target));
    // Followers have no target.
    let follower = (1..=3).find(|id| *id != l).unwrap();
    assert_eq!(c.node(follower).transfer_target(), None);
    c.node(l).transfer_leader(target);
    for _ in 0..200 {
        c.tick();
        if c.leader() == Some(target) {
            break;
        }
    }
    assert_eq!(c.leader(), Some(target), "{}", c.dump());
    assert!(c.failures.is_empty(), "{:?}", c.failures);
}
