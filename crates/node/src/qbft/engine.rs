//! [`BftEngine`]: what the [`super::Driver`] needs to know of the engine it runs, QBFT
//! ([`Qbft`]) or `GoQuorum`'s legacy IBFT ([`Ibft`]): the messages and their frames, the state
//! machine, the height's plan, how a proposal is built and how the seal journal is asked
//! about a block signed by our key. Everything else (the loop, timers, duplicate filter, relay,
//! backlog, doppelganger window, block building and import) is the driver's, shared.

use alloy_primitives::{Address, B64, B256};
use cachet_consensus::qbft::{self, Block, Env, FileJournal, Input, Journal, Output, Viewed};
use cachet_consensus::{ibft, qbft::State as QbftState};
use cachet_genesis::Engine;
use cachet_seal::Header;
use cachet_seal::bft::{BftExtra, Vote};

use super::check::{self, HeightPlan, NotRun};
use crate::chain::{Chain, HeadInfo};
use crate::consensus_net::ConsensusFrame;
use crate::error::{Error, Result};

/// An engine the driver runs (see the module documentation).
pub trait BftEngine: Send + Sync + 'static {
    /// Its messages.
    type Message: Clone + std::fmt::Debug + Send + Viewed + 'static;
    /// Its state machine's per-height configuration.
    type Config: Clone + std::fmt::Debug + Send + Sync + 'static;
    /// Its state machine for one height.
    type State: Send;

    /// Its name in logs.
    const NAME: &'static str;
    /// The engine whose keys its digests take in the seal journal.
    const JOURNAL: Engine;

    /// The plan of the child of `head` for validator `me`.
    ///
    /// # Errors
    /// [`NotRun`] when the driver has nothing to do at this height.
    fn plan(
        chain: &Chain,
        head: &HeadInfo,
        me: Address,
    ) -> Result<HeightPlan<Self::Config>, NotRun>;
    /// The height's validators.
    fn validators(config: &Self::Config) -> &[Address];
    /// The state of `height` (reloading what `journal` kept for it).
    fn state(height: u64, config: Self::Config, journal: &dyn Journal) -> Self::State;
    /// Feeds one input.
    fn handle(
        state: &mut Self::State,
        env: &mut Env<'_>,
        input: Input<Self::Message>,
    ) -> Vec<Output<Self::Message>>;
    /// The committed block could not be imported: what the state machine does about it.
    fn import_failed(state: &mut Self::State, env: &mut Env<'_>) -> Vec<Output<Self::Message>>;
    /// The current round.
    fn round(state: &Self::State) -> u32;

    /// Decodes the payload of `istanbul/100` code `code`.
    ///
    /// # Errors
    /// Why it does not decode.
    fn decode(code: u8, payload: &[u8]) -> std::result::Result<Self::Message, String>;
    /// The frame carrying `msg`.
    fn frame(msg: &Self::Message) -> ConsensusFrame;
    /// The message's name (PRE-PREPARE, …).
    fn kind(msg: &Self::Message) -> &'static str;
    /// The author the signature recovers to.
    fn author(msg: &Self::Message) -> Option<Address>;
    /// The digest a PRE-PREPARE, PREPARE or COMMIT commits to (recorded in the journal before
    /// it is signed); `None` for a ROUND-CHANGE.
    fn signed_digest(msg: &Self::Message) -> Option<B256>;
    /// A PRE-PREPARE's proposal digest.
    fn proposal_digest(msg: &Self::Message) -> Option<B256>;

    /// What the engine sets in the unsealed child `me` proposes carrying `vote`: extraData,
    /// coinbase and nonce (the driver sets the rest: `IstanbulDigest`, difficulty 1).
    fn unsealed_fields(config: &Self::Config, me: Address, vote: Option<Vote>) -> Unsealed;
    /// The state machine's block of a built header and body lists.
    ///
    /// # Errors
    /// When the header's extraData is not this engine's.
    fn block(header: Header, txs: &[u8], uncles: &[u8]) -> std::result::Result<Block, String>;
    /// The digests our journal would hold at `header`'s height had this validator signed for
    /// it, and the round to ask at.
    ///
    /// # Errors
    /// [`Error::Seal`] when the header's extraData does not decode.
    fn journal_digests(header: &Header) -> Result<(u32, Vec<B256>)>;

    /// Opens the journal in `datadir`.
    ///
    /// # Errors
    /// [`Error::Config`] when it cannot be opened.
    fn open_journal(datadir: &std::path::Path) -> Result<FileJournal> {
        FileJournal::open_for(datadir, Self::JOURNAL).map_err(|e| Error::Config(e.to_string()))
    }
}

/// The engine's fields of an unsealed proposal ([`BftEngine::unsealed_fields`]).
#[derive(Debug, Clone)]
pub struct Unsealed {
    /// extraData.
    pub extra: Vec<u8>,
    /// Coinbase.
    pub coinbase: Address,
    /// Nonce.
    pub nonce: B64,
}

/// QBFT (`cachet_consensus::qbft`).
#[derive(Debug, Clone, Copy)]
pub struct Qbft;

/// `GoQuorum`'s legacy IBFT (`cachet_consensus::ibft`, genesis `istanbul`).
#[derive(Debug, Clone, Copy)]
pub struct Ibft;

fn seal_err(number: u64) -> impl Fn(cachet_seal::Error) -> Error {
    move |source| Error::Seal { number, source }
}

impl BftEngine for Qbft {
    type Message = qbft::Message;
    type Config = qbft::Config;
    type State = QbftState;
    const NAME: &'static str = "qbft";
    const JOURNAL: Engine = Engine::Qbft;

    fn plan(chain: &Chain, head: &HeadInfo, me: Address) -> Result<HeightPlan, NotRun> {
        check::plan(chain, head, me)
    }
    fn validators(config: &qbft::Config) -> &[Address] {
        &config.validators
    }
    fn state(height: u64, config: qbft::Config, journal: &dyn Journal) -> QbftState {
        QbftState::new(height, config, journal)
    }
    fn handle(state: &mut QbftState, env: &mut Env<'_>, input: Input) -> Vec<Output> {
        state.handle(env, input)
    }
    fn import_failed(_: &mut QbftState, _: &mut Env<'_>) -> Vec<Output> {
        // The height is decided; the block comes by sync.
        Vec::new()
    }
    fn round(state: &QbftState) -> u32 {
        state.round()
    }
    fn decode(code: u8, payload: &[u8]) -> std::result::Result<qbft::Message, String> {
        qbft::Message::decode(code, payload).map_err(|e| e.to_string())
    }
    fn frame(msg: &qbft::Message) -> ConsensusFrame {
        ConsensusFrame {
            code: msg.code() as u64,
            payload: msg.encode().into(),
        }
    }
    fn kind(msg: &qbft::Message) -> &'static str {
        msg.code().name()
    }
    fn author(msg: &qbft::Message) -> Option<Address> {
        msg.author().ok()
    }
    fn signed_digest(msg: &qbft::Message) -> Option<B256> {
        match msg {
            qbft::Message::PrePrepare(m) => Some(m.proposal.payload.block.digest()),
            qbft::Message::Prepare(m) => Some(m.payload.digest),
            qbft::Message::Commit(m) => Some(m.payload.digest),
            qbft::Message::RoundChange(_) => None,
        }
    }
    fn proposal_digest(msg: &qbft::Message) -> Option<B256> {
        match msg {
            qbft::Message::PrePrepare(m) => Some(m.proposal.payload.block.digest()),
            _ => None,
        }
    }
    /// Round 0 in extraData (GoQuorum's proposals, also when proposing at a later round:
    /// decision 411), the vote in extraData, coinbase = proposer.
    fn unsealed_fields(config: &qbft::Config, me: Address, vote: Option<Vote>) -> Unsealed {
        Unsealed {
            extra: cachet_seal::qbft::encode_extra(&BftExtra {
                vanity: vec![0; 32],
                validators: config.validators.clone(),
                vote,
                ..BftExtra::default()
            }),
            coinbase: me,
            nonce: B64::ZERO,
        }
    }
    fn block(header: Header, txs: &[u8], uncles: &[u8]) -> std::result::Result<Block, String> {
        Block::new(header, txs, uncles).map_err(|e| e.to_string())
    }
    fn journal_digests(header: &Header) -> Result<(u32, Vec<B256>)> {
        let err = seal_err(header.number);
        let extra =
            cachet_seal::qbft::decode_extra(&header.extra_data).map_err(|e| err(e.into()))?;
        // A GoQuorum or Cachet proposal carries round 0, its digest is the block hash; a Besu
        // ≥ 24.12 proposal carries its round, its digest is the commit digest.
        let hash = cachet_seal::qbft::block_hash(header).map_err(&err)?;
        let commit = cachet_seal::qbft::commit_digest(header).map_err(&err)?;
        Ok((extra.round, vec![hash, commit]))
    }
}

impl BftEngine for Ibft {
    type Message = ibft::Message;
    type Config = ibft::Config;
    type State = ibft::State;
    const NAME: &'static str = "ibft";
    // The key the single-validator sealer (`BftSealer`) records IBFT blocks under: one journal
    // per engine family, whichever producer signed (decision 550).
    const JOURNAL: Engine = Engine::Ibft;

    fn plan(
        chain: &Chain,
        head: &HeadInfo,
        me: Address,
    ) -> Result<HeightPlan<ibft::Config>, NotRun> {
        check::ibft_plan(chain, head, me)
    }
    fn validators(config: &ibft::Config) -> &[Address] {
        &config.validators
    }
    fn state(height: u64, config: ibft::Config, journal: &dyn Journal) -> ibft::State {
        ibft::State::new(height, config, journal)
    }
    fn handle(state: &mut ibft::State, env: &mut Env<'_>, input: ibft::Input) -> Vec<ibft::Output> {
        state.handle(env, input)
    }
    fn import_failed(state: &mut ibft::State, env: &mut Env<'_>) -> Vec<ibft::Output> {
        state.import_failed(env)
    }
    fn round(state: &ibft::State) -> u32 {
        state.round()
    }
    fn decode(code: u8, payload: &[u8]) -> std::result::Result<ibft::Message, String> {
        ibft::Message::decode(code, payload).map_err(|e| e.to_string())
    }
    fn frame(msg: &ibft::Message) -> ConsensusFrame {
        ConsensusFrame {
            code: u64::from(ibft::message::P2P_CODE),
            payload: msg.encode().into(),
        }
    }
    fn kind(msg: &ibft::Message) -> &'static str {
        msg.code().name()
    }
    fn author(msg: &ibft::Message) -> Option<Address> {
        msg.author().ok()
    }
    fn signed_digest(msg: &ibft::Message) -> Option<B256> {
        match &msg.content {
            ibft::Content::RoundChange => None,
            c => Some(c.digest()),
        }
    }
    fn proposal_digest(msg: &ibft::Message) -> Option<B256> {
        match &msg.content {
            ibft::Content::PrePrepare(b) => Some(b.digest()),
            _ => None,
        }
    }
    /// IBFT extraData listing the validators byte-sorted (as `GoQuorum` writes them) with no
    /// seals; the vote in coinbase + nonce (`0xff…ff` adds, 0 drops; no vote: zero coinbase
    /// and nonce; `seal-formats.md` §2.1). The proposer is named by the proposer seal the
    /// state machine adds, not by the coinbase.
    fn unsealed_fields(config: &ibft::Config, _me: Address, vote: Option<Vote>) -> Unsealed {
        let mut validators = config.validators.clone();
        validators.sort();
        Unsealed {
            extra: cachet_seal::ibft::IstanbulExtra {
                vanity: [0; cachet_seal::ibft::EXTRA_VANITY],
                validators,
                seal: Vec::new(),
                committed_seals: Vec::new(),
            }
            .encode(),
            coinbase: vote.map_or(Address::ZERO, |v| v.recipient),
            nonce: match vote {
                Some(v) if v.authorize => crate::bft_votes::IBFT_NONCE_AUTH,
                _ => B64::ZERO,
            },
        }
    }
    fn block(header: Header, txs: &[u8], uncles: &[u8]) -> std::result::Result<Block, String> {
        Block::new_ibft(&header, txs, uncles).map_err(|e| e.to_string())
    }
    fn journal_digests(header: &Header) -> Result<(u32, Vec<B256>)> {
        // No round in IBFT extraData: the journal is asked at round 0 and any other.
        let hash = cachet_seal::ibft::block_hash(header).map_err(seal_err(header.number))?;
        Ok((0, vec![hash]))
    }
}
