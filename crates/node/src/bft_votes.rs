//! Validator votes of the IBFT family: the validator set after each block, derived from the
//! genesis list and the votes blocks carry ([`VoteSnapshot`]), and how a vote is read from a
//! header ([`read_vote`]).
//!
//! The rules are GoQuorum's (`consensus/istanbul/backend/engine.go` `snapApplyHeader`,
//! `snapshot.go` `cast`/`uncast`/`checkVote`; decisions 460–469):
//! - at an epoch block (`number % epoch == 0`) every pending vote is dropped **before** the
//!   block's own vote is applied;
//! - the block's author (QBFT/IBFT 2.0: coinbase; GoQuorum IBFT: the proposer seal's signer)
//!   must be a validator of the set the block was sealed under;
//! - an author's earlier vote on the same candidate is withdrawn first (one vote per validator
//!   per candidate);
//! - a vote counts only when it would change something (add a non-validator, drop a
//!   validator); a block without a vote counts nothing;
//! - when more than half the current set (`votes > N / 2`) agree, the candidate is added or
//!   dropped at once: the set after this block (the one block `number + 1` is sealed under)
//!   is the new one; a dropped validator's own pending votes are withdrawn, and every pending
//!   vote on the candidate is dropped.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B64};
use cachet_genesis::Engine;
use cachet_seal::Header;
use cachet_seal::bft::Vote;

/// GoQuorum IBFT's nonce of an "add" vote (`nonceAuthVote`); a "drop" vote is nonce 0.
pub const IBFT_NONCE_AUTH: B64 = B64::new([0xff; 8]);

/// One vote a validator cast and that still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CastVote {
    /// Who voted (the block's author).
    pub validator: Address,
    /// The block that carried it.
    pub block: u64,
    /// The candidate.
    pub candidate: Address,
    /// True to add, false to drop.
    pub authorize: bool,
}

/// The votes counted on one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// The direction (add or drop).
    pub authorize: bool,
    /// How many validators voted so.
    pub votes: usize,
}

/// The validator set and pending votes after block `number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteSnapshot {
    /// Blocks per epoch (votes are dropped at every multiple).
    pub epoch: u64,
    /// The last applied block.
    pub number: u64,
    /// The validators (sorted by address bytes).
    pub validators: BTreeSet<Address>,
    /// Pending votes in the order cast.
    pub votes: Vec<CastVote>,
    /// Pending votes per candidate.
    pub tally: BTreeMap<Address, Tally>,
}

/// Why a block's vote could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// The block's author is not in the set it was sealed under.
    #[error(
        "block {number}: author {author} is not a validator of the parent's set; check the chain's votes"
    )]
    NotValidator {
        /// The block.
        number: u64,
        /// Its author.
        author: Address,
    },
    /// A block that does not follow the snapshot's last block.
    #[error("block {number} does not follow the vote snapshot of block {last}")]
    NotNext {
        /// The block.
        number: u64,
        /// The snapshot's last block.
        last: u64,
    },
}

impl VoteSnapshot {
    /// The snapshot of block `number` (usually the genesis, 0) holding `validators` and no
    /// votes; an `epoch` of 0 means [`cachet_genesis::DEFAULT_EPOCH`].
    pub fn new(epoch: u64, number: u64, validators: impl IntoIterator<Item = Address>) -> Self {
        Self {
            epoch: if epoch == 0 {
                cachet_genesis::DEFAULT_EPOCH
            } else {
                epoch
            },
            number,
            validators: validators.into_iter().collect(),
            votes: Vec::new(),
            tally: BTreeMap::new(),
        }
    }

    /// The validators, sorted by address bytes.
    pub fn validator_list(&self) -> Vec<Address> {
        self.validators.iter().copied().collect()
    }

    /// True when `number` is an epoch block.
    pub const fn is_epoch(&self, number: u64) -> bool {
        number.is_multiple_of(self.epoch)
    }

    /// True when a vote to add (`authorize`) or drop `candidate` would change the set.
    pub fn meaningful(&self, candidate: &Address, authorize: bool) -> bool {
        self.validators.contains(candidate) != authorize
    }

    /// True when `validator` has a pending vote on `candidate` in direction `authorize`.
    pub fn has_voted(&self, validator: &Address, candidate: &Address, authorize: bool) -> bool {
        self.votes.iter().any(|v| {
            v.validator == *validator && v.candidate == *candidate && v.authorize == authorize
        })
    }

    fn cast(&mut self, candidate: Address, authorize: bool) -> bool {
        if !self.meaningful(&candidate, authorize) {
            return false;
        }
        self.tally
            .entry(candidate)
            .and_modify(|t| t.votes += 1)
            .or_insert(Tally {
                authorize,
                votes: 1,
            });
        true
    }

    fn uncast(&mut self, candidate: Address, authorize: bool) {
        let Some(t) = self.tally.get_mut(&candidate) else {
            return;
        };
        if t.authorize != authorize {
            return;
        }
        if t.votes > 1 {
            t.votes -= 1;
        } else {
            self.tally.remove(&candidate);
        }
    }

    /// Applies block `number`, authored by `author`, carrying `vote`; afterwards the snapshot
    /// is the one after that block.
    ///
    /// # Errors
    /// [`VoteError`] when the block does not follow or its author is not a validator.
    pub fn apply(
        &mut self,
        number: u64,
        author: Address,
        vote: Option<Vote>,
    ) -> Result<(), VoteError> {
        if number != self.number.saturating_add(1) {
            return Err(VoteError::NotNext {
                number,
                last: self.number,
            });
        }
        if self.is_epoch(number) {
            self.votes.clear();
            self.tally.clear();
        }
        if !self.validators.contains(&author) {
            return Err(VoteError::NotValidator { number, author });
        }
        self.number = number;
        let Some(Vote {
            recipient: candidate,
            authorize,
        }) = vote
        else {
            return Ok(());
        };
        if let Some(i) = self
            .votes
            .iter()
            .position(|v| v.validator == author && v.candidate == candidate)
        {
            let old = self.votes.remove(i);
            self.uncast(old.candidate, old.authorize);
        }
        if self.cast(candidate, authorize) {
            self.votes.push(CastVote {
                validator: author,
                block: number,
                candidate,
                authorize,
            });
        }
        let Some(t) = self.tally.get(&candidate).copied() else {
            return Ok(());
        };
        if t.votes <= self.validators.len() / 2 {
            return Ok(());
        }
        if t.authorize {
            self.validators.insert(candidate);
        } else {
            self.validators.remove(&candidate);
            let (theirs, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.votes)
                .into_iter()
                .partition(|v| v.validator == candidate);
            self.votes = rest;
            for v in theirs {
                self.uncast(v.candidate, v.authorize);
            }
        }
        self.votes.retain(|v| v.candidate != candidate);
        self.tally.remove(&candidate);
        Ok(())
    }
}

/// The vote `header` carries under `engine`: QBFT and IBFT 2.0 in extraData's vote field,
/// GoQuorum IBFT in coinbase + nonce (nonce `0xff…ff` adds, nonce 0 with a non-zero coinbase
/// drops; nonce 0 with a zero coinbase is no vote).
///
/// # Errors
/// [`cachet_seal::Error`] for undecodable extraData or an IBFT nonce that is neither.
pub fn read_vote(engine: Engine, header: &Header) -> Result<Option<Vote>, cachet_seal::Error> {
    match engine {
        Engine::Ibft => {
            let recipient = header.beneficiary;
            if header.nonce == IBFT_NONCE_AUTH {
                Ok(Some(Vote {
                    recipient,
                    authorize: true,
                }))
            } else if header.nonce == B64::ZERO {
                Ok((!recipient.is_zero()).then_some(Vote {
                    recipient,
                    authorize: false,
                }))
            } else {
                Err(cachet_seal::Error::HeaderRule {
                    engine: "ibft",
                    rule: format!(
                        "nonce must be 0x0000000000000000 (no vote / drop vote) or 0xffffffffffffffff (add vote), found {}",
                        header.nonce
                    ),
                })
            }
        }
        Engine::Ibft2 => Ok(cachet_seal::ibft2::decode_extra(&header.extra_data)
            .map_err(cachet_seal::Error::from)?
            .vote),
        _ => Ok(cachet_seal::qbft::decode_extra(&header.extra_data)
            .map_err(cachet_seal::Error::from)?
            .vote),
    }
}

/// The pending proposal (from the node's `propose` map, `proposals`) that block `number`
/// built on `snap` carries, as GoQuorum's `Prepare` does: only proposals that would change
/// the set; none in an epoch block (Besu ignores votes there). Among several, the one at
/// `number % count` of the candidates sorted by address (GoQuorum draws at random, Besu
/// rotates; any choice is valid), skipping those this validator (`me`) already has pending in
/// the same direction.
pub fn pick_vote(
    snap: &VoteSnapshot,
    number: u64,
    me: &Address,
    proposals: &std::collections::HashMap<Address, bool>,
) -> Option<Vote> {
    if snap.is_epoch(number) {
        return None;
    }
    let mut valid: Vec<(Address, bool)> = proposals
        .iter()
        .filter(|(c, a)| snap.meaningful(c, **a) && !snap.has_voted(me, c, **a))
        .map(|(c, a)| (*c, *a))
        .collect();
    if valid.is_empty() {
        return None;
    }
    valid.sort();
    let i = usize::try_from(number % valid.len() as u64).unwrap_or(0);
    let (recipient, authorize) = valid[i];
    Some(Vote {
        recipient,
        authorize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(c: char) -> Address {
        Address::repeat_byte(c as u8)
    }

    fn set(s: &str) -> BTreeSet<Address> {
        s.chars().map(a).collect()
    }

    /// Applies `votes` ("A>+C": A votes to add C, "A>-C": to drop C, "A": no vote) as blocks
    /// 1, 2, … on `validators` with `epoch` (0: the default) and returns the final set.
    fn run(epoch: u64, validators: &str, votes: &[&str]) -> BTreeSet<Address> {
        let mut snap = VoteSnapshot::new(epoch, 0, set(validators));
        for (i, v) in votes.iter().enumerate() {
            let mut c = v.chars();
            let author = a(c.next().unwrap());
            let vote = match (c.next(), c.next(), c.next()) {
                (None, _, _) => None,
                (Some('>'), Some(dir), Some(cand)) => Some(Vote {
                    recipient: a(cand),
                    authorize: dir == '+',
                }),
                _ => panic!("bad test vote {v}"),
            };
            snap.apply(i as u64 + 1, author, vote).unwrap();
        }
        snap.validators
    }

    #[test]
    fn removes_a_validator_with_more_than_half() {
        // 4 validators: N/2 = 2, a change needs 3 votes. After A and B: 2 votes, no change;
        // C's vote makes 3 > 2: D is gone after block 3.
        let mut snap = VoteSnapshot::new(0, 0, set("ABCD"));
        let drop_d = Some(Vote {
            recipient: a('D'),
            authorize: false,
        });
        snap.apply(1, a('A'), drop_d).unwrap();
        snap.apply(2, a('B'), drop_d).unwrap();
        assert_eq!(snap.validators, set("ABCD"));
        assert_eq!(
            snap.tally[&a('D')],
            Tally {
                authorize: false,
                votes: 2
            }
        );
        snap.apply(3, a('C'), drop_d).unwrap();
        assert_eq!(snap.validators, set("ABC"));
        assert!(snap.votes.is_empty() && snap.tally.is_empty());
        // D cannot author block 4: it is not in the set after block 3.
        assert_eq!(
            snap.apply(4, a('D'), None),
            Err(VoteError::NotValidator {
                number: 4,
                author: a('D')
            })
        );
    }

    #[test]
    fn adds_a_validator_and_counts_one_vote_per_validator() {
        // 3 validators: N/2 = 1, two votes add E. A votes twice (blocks 1, 2): still one vote.
        assert_eq!(run(0, "ABC", &["A>+E", "A>+E"]), set("ABC"));
        assert_eq!(run(0, "ABC", &["A>+E", "A>+E", "B>+E"]), set("ABCE"));
        // Once E is in, 4 validators: dropping needs 3 votes; 2 are not enough.
        assert_eq!(
            run(0, "ABC", &["A>+E", "B>+E", "A>-B", "C>-B"]),
            set("ABCE")
        );
        assert_eq!(
            run(0, "ABC", &["A>+E", "B>+E", "A>-B", "C>-B", "E>-B"]),
            set("ACE")
        );
    }

    #[test]
    fn keeps_the_set_on_a_tie() {
        // 4 validators, 2 for dropping D: 2 is not more than 4/2.
        assert_eq!(run(0, "ABCD", &["A>-D", "B>-D", "C", "D"]), set("ABCD"));
        // 2 validators: one vote is a tie (1 is not more than 1): needs both.
        assert_eq!(run(0, "AB", &["A>+C", "B"]), set("AB"));
        // A changes its mind: its add vote is withdrawn, the drop is not meaningful (C is
        // not a validator) and counts nothing; B's add then makes 1 again: a tie.
        assert_eq!(run(0, "AB", &["A>+C", "A>-C", "B>+C"]), set("AB"));
    }

    #[test]
    fn drops_pending_votes_at_an_epoch_block() {
        // Epoch 3: block 3 drops A's vote (block 1); B's vote at block 4 is then alone.
        assert_eq!(run(3, "AB", &["A>+C", "B", "A", "B>+C"]), set("AB"));
        // Without the epoch both votes count.
        assert_eq!(run(0, "AB", &["A>+C", "B", "A", "B>+C"]), set("ABC"));
        // The epoch block's own vote counts (applied after the reset), as GoQuorum does.
        assert_eq!(run(2, "AB", &["A>+C", "B>+C", "A>+C"]), set("ABC"));
        assert_eq!(run(2, "AB", &["A>+C", "B>+C"]), set("AB"));
        let mut snap = VoteSnapshot::new(2, 0, set("AB"));
        let add_c = Some(Vote {
            recipient: a('C'),
            authorize: true,
        });
        snap.apply(1, a('A'), add_c).unwrap();
        assert_eq!(snap.votes.len(), 1);
        snap.apply(2, a('B'), None).unwrap();
        assert!(snap.votes.is_empty() && snap.tally.is_empty());
    }

    #[test]
    fn refuses_a_block_out_of_order() {
        let mut snap = VoteSnapshot::new(0, 0, set("A"));
        assert_eq!(
            snap.apply(2, a('A'), None),
            Err(VoteError::NotNext { number: 2, last: 0 })
        );
    }

    /// GoQuorum's own table: `consensus/istanbul/backend/snapshot_test.go` `TestVoting`
    /// (validators, votes in blocks 1…, epoch, expected set), transcribed.
    #[test]
    fn matches_goquorum_voting_table() {
        let cases: &[(u64, &str, &[&str], &str)] = &[
            (0, "A", &["A"], "A"),
            (0, "A", &["A>+B", "B", "A>+C"], "AB"),
            (
                0,
                "AB",
                &["A>+C", "B>+C", "A>+D", "B>+D", "C", "A>+E", "B>+E"],
                "ABCD",
            ),
            (0, "A", &["A>-A"], ""),
            (0, "AB", &["A>-B"], "AB"),
            (0, "AB", &["A>-B", "B>-B"], "A"),
            (0, "ABC", &["A>-C", "B>-C"], "AB"),
            (0, "ABCD", &["A>-C", "B>-C"], "ABCD"),
            (0, "ABCD", &["A>-D", "B>-D", "C>-D"], "ABC"),
            (0, "AB", &["A>+C", "B", "A>+C", "B", "A>+C"], "AB"),
            (
                0,
                "AB",
                &["A>+C", "B", "A>+D", "B", "A", "B>+D", "A", "B>+C"],
                "ABCD",
            ),
            (0, "AB", &["A>-B", "B", "A>-B", "B", "A>-B"], "AB"),
            (
                0,
                "ABCD",
                &[
                    "A>-C", "B", "C", "A>-D", "B", "C", "A", "B>-D", "C>-D", "A", "B>-C",
                ],
                "AB",
            ),
            (0, "ABC", &["C>-B", "A>-C", "B>-C", "A>-B"], "AB"),
            (
                0,
                "ABCD",
                &["A>-C", "B", "C", "A>-D", "B>-C", "C", "A", "B>-D", "C>-D"],
                "ABC",
            ),
            (
                0,
                "ABCD",
                &[
                    "A>-C", "B", "C", "A>-D", "B>-C", "C", "A", "B>-D", "C>-D", "A", "C>+C",
                ],
                "AB",
            ),
            (
                0,
                "ABCD",
                &[
                    "A>-C", "B", "C", "A>-D", "B>-C", "C", "A", "B>-D", "C>-D", "A", "B>+C",
                ],
                "ABC",
            ),
            (
                0,
                "ABCDE",
                &[
                    "A>+F", "B>+F", "C>+F", "D>-F", "E>-F", "B>-F", "C>-F", "D>+F", "E>+F", "B>-A",
                    "C>-A", "D>-A", "B>+F",
                ],
                "BCDEF",
            ),
            (3, "AB", &["A>+C", "B", "A", "B>+C"], "AB"),
        ];
        for (i, (epoch, validators, votes, want)) in cases.iter().enumerate() {
            assert_eq!(
                run(*epoch, validators, votes),
                set(want),
                "GoQuorum TestVoting case {i}"
            );
        }
    }

    #[test]
    fn reads_ibft_votes_from_coinbase_and_nonce() {
        let mut h = Header::default();
        assert_eq!(read_vote(Engine::Ibft, &h).unwrap(), None);
        h.beneficiary = a('C');
        assert_eq!(
            read_vote(Engine::Ibft, &h).unwrap(),
            Some(Vote {
                recipient: a('C'),
                authorize: false
            })
        );
        h.nonce = IBFT_NONCE_AUTH;
        assert_eq!(
            read_vote(Engine::Ibft, &h).unwrap(),
            Some(Vote {
                recipient: a('C'),
                authorize: true
            })
        );
        h.nonce = B64::new([1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(read_vote(Engine::Ibft, &h).is_err());
    }

    #[test]
    fn picks_only_votes_that_change_something() {
        let snap = VoteSnapshot::new(10, 0, set("AB"));
        let mut p = std::collections::HashMap::new();
        p.insert(a('A'), true); // already a validator: not meaningful
        p.insert(a('X'), false); // not a validator: not meaningful
        assert_eq!(pick_vote(&snap, 1, &a('A'), &p), None);
        p.insert(a('C'), true);
        let want = Some(Vote {
            recipient: a('C'),
            authorize: true,
        });
        assert_eq!(pick_vote(&snap, 1, &a('A'), &p), want);
        // None in an epoch block.
        assert_eq!(pick_vote(&snap, 10, &a('A'), &p), None);
        // Not again once A's vote is pending.
        let mut after = snap;
        after.apply(1, a('A'), want).unwrap();
        assert_eq!(pick_vote(&after, 2, &a('A'), &p), None);
        assert_eq!(pick_vote(&after, 2, &a('B'), &p), want);
    }
}
