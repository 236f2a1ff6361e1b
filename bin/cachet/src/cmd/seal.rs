//! `cachet seal recover|verify|sign|commit`: who sealed a header, is the seal valid, and sealing
//! with this node's unlocked keys through the sealing journal.

use std::path::{Path, PathBuf};

use cachet_seal::bft::Threshold;
use cachet_seal::{Engine, Error as SealError, Header, RaftMembers, VerifyOptions};
use clap::{Args, Subcommand, ValueEnum};

use crate::exit::Failure;

/// Seal commands.
#[derive(Debug, Subcommand)]
pub(crate) enum SealCommand {
    /// Recover the signer(s) of a sealed header and print them as JSON.
    Recover(HeaderArgs),
    /// Verify a sealed header; exit 0 only if the seal (and with --validators the quorum) is valid.
    Verify(HeaderArgs),
    /// Seal a header with this node's key (clique: sealing key; others: node key) through the
    /// journal, and print the sealed header RLP.
    Sign(SignArgs),
    /// Print this node's committed seal for a BFT proposal (through the journal).
    Commit(SignArgs),
}

impl SealCommand {
    /// True for `sign` and `commit`, which decrypt the node's keys.
    pub(crate) fn signs(&self) -> bool {
        matches!(self, Self::Sign(_) | Self::Commit(_))
    }
}

/// `cachet seal sign|commit`.
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// The node's data directory (key bundle and `seal-journal`).
    #[arg(long)]
    datadir: PathBuf,
    /// Engine: clique, ibft, ibft2, qbft or raft (commit: ibft, ibft2 or qbft).
    #[arg(long, value_parser = parse_engine)]
    engine: Engine,
    /// Header RLP hex, or a file holding RLP hex or `eth_getBlockByNumber` JSON.
    #[arg(long, value_name = "H")]
    header: String,
    /// The consensus round (ibft, ibft2, qbft).
    #[arg(long, default_value_t = 0)]
    round: u32,
    /// This node's raft id (raft).
    #[arg(long)]
    raft_id: Option<u16>,
    /// Raft members to verify the fresh signature against (default: this node under --raft-id).
    #[arg(long, value_name = "F")]
    raft_members: Option<PathBuf>,
    #[command(flatten)]
    kms: super::keys::KmsArgs,
}

/// Which committed-seal threshold to apply.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ThresholdArg {
    /// GoQuorum import rule: more than F = ceil(N/3)-1 committers.
    Quorum,
    /// Besu import rule: at least ceil(2N/3) committers.
    Besu,
}

/// The header to inspect and its context.
#[derive(Debug, Args)]
pub(crate) struct HeaderArgs {
    /// Engine: clique, ibft (Quorum IBFT = Besu IBFT 1.0), ibft2 (Besu), qbft or raft.
    #[arg(long, value_parser = parse_engine)]
    engine: Engine,
    /// Header RLP hex, or a file holding RLP hex or `eth_getBlockByNumber` JSON (geth names).
    #[arg(long, value_name = "H")]
    header: String,
    /// Validator (clique: signer) set: a JSON array of addresses or one address per line.
    #[arg(long, value_name = "F")]
    validators: Option<PathBuf>,
    /// Raft members: `raft_cluster` JSON (raftId, nodeId) or an object {"<raft id>": "<enode>"}.
    #[arg(long, value_name = "F")]
    raft_members: Option<PathBuf>,
    /// Committed-seal threshold for BFT engines.
    #[arg(long, value_enum, default_value = "besu")]
    threshold: ThresholdArg,
    /// Clique epoch length.
    #[arg(long, default_value_t = 30_000)]
    epoch: u64,
}

fn parse_engine(s: &str) -> Result<Engine, String> {
    s.parse::<Engine>().map_err(|e| e.to_string())
}

pub(crate) async fn run(command: SealCommand) -> Result<(), Failure> {
    match command {
        SealCommand::Recover(args) => {
            let header = read_header(&args.header)?;
            let r = cachet_seal::recover(args.engine, &header).map_err(Failure::from)?;
            println!("{}", r.to_json());
            Ok(())
        }
        SealCommand::Verify(args) => {
            let header = read_header(&args.header)?;
            let validators = args
                .validators
                .as_deref()
                .map(read_validators)
                .transpose()?;
            let members = args.raft_members.as_deref().map(read_members).transpose()?;
            let opts = VerifyOptions {
                validators: validators.as_deref(),
                raft_members: members.as_ref(),
                threshold: match args.threshold {
                    ThresholdArg::Quorum => Threshold::QuorumMoreThanF,
                    ThresholdArg::Besu => Threshold::BesuTwoThirds,
                },
                epoch: args.epoch,
            };
            let r = cachet_seal::verify(args.engine, &header, &opts).map_err(Failure::from)?;
            let mut json = r.to_json();
            if let Some(o) = json.as_object_mut() {
                o.insert("valid".into(), true.into());
                o.insert("quorum_checked".into(), validators.is_some().into());
            }
            println!("{json}");
            Ok(())
        }
        SealCommand::Sign(args) => sign(args, false).await,
        SealCommand::Commit(args) => sign(args, true).await,
    }
}

async fn sign(args: SignArgs, commit: bool) -> Result<(), Failure> {
    let header = read_header(&args.header)?;
    if commit && !args.engine.has_rounds() {
        return Err(Failure::usage(format!(
            "seal commit is for ibft, ibft2 and qbft, not {}",
            args.engine
        )));
    }
    if args.engine == Engine::Raft && args.raft_id.is_none() {
        return Err(Failure::usage("raft sealing needs --raft-id"));
    }
    let members = args.raft_members.as_deref().map(read_members).transpose()?;
    let unlocked = cachet_keyprovider::unlock(&args.datadir, &args.kms.config()).await?;
    let keys = unlocked.keys;
    let result = (|| {
        let mut sealer = cachet_seal::Sealer::open(&args.datadir)?;
        let node = keys.node_key();
        let signer = node.signer();
        let out: Vec<u8> = match (args.engine, commit) {
            (Engine::Clique, _) => sealer.clique(&header, &keys.sealing_key())?.encode(),
            (Engine::Ibft, false) => sealer.ibft_propose(&header, args.round, signer)?.encode(),
            (Engine::Ibft, true) => sealer.ibft_commit(&header, args.round, signer)?.to_vec(),
            (Engine::Ibft2 | Engine::Qbft, false) => sealer
                .bft_propose(args.engine, &header, args.round, signer.address(), signer)?
                .encode(),
            (Engine::Ibft2 | Engine::Qbft, true) => {
                sealer.bft_commit(args.engine, &header, signer)?.to_vec()
            }
            (Engine::Raft, _) => {
                let id = args.raft_id.unwrap_or_default();
                let members = members.clone().unwrap_or_else(|| {
                    let mut m = RaftMembers::new();
                    m.insert(id, signer.public_key());
                    m
                });
                sealer.raft(&header, id, signer, &members)?.encode()
            }
            // `parse_engine` accepts sealing engines only.
            (Engine::Ethash, _) => {
                return Err(SealError::Internal("seal sign reached for ethash"));
            }
        };
        Ok::<_, SealError>(out)
    })();
    keys.wipe();
    let out = result.map_err(Failure::from)?;
    super::emit(&format!("0x{}", hex::encode(out)));
    Ok(())
}

fn read_file(path: &Path, what: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read {what} file {}: {e}", path.display())))
}

fn read_header(arg: &str) -> Result<Header, Failure> {
    let path = Path::new(arg);
    let text = if path.is_file() {
        read_file(path, "header")?
    } else if arg.contains('/') {
        return Err(Failure::usage(format!("--header: no such file {arg}")));
    } else {
        arg.to_owned()
    };
    cachet_seal::parse_header_input(&text).map_err(|e| Failure::usage(format!("--header: {e}")))
}

fn read_validators(path: &Path) -> Result<Vec<alloy_primitives::Address>, Failure> {
    let text = read_file(path, "validators")?;
    cachet_seal::parse_validators(&text)
        .map_err(|e| Failure::usage(format!("--validators {}: {e}", path.display())))
}

fn read_members(path: &Path) -> Result<RaftMembers, Failure> {
    let text = read_file(path, "raft members")?;
    RaftMembers::from_json(&text)
        .map_err(|e| Failure::usage(format!("--raft-members {}: {e}", path.display())))
}
