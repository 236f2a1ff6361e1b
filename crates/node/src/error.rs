//! The node crate's error type.

use std::path::PathBuf;

use alloy_primitives::B256;
use cachet_kms::BoxedSource;

/// Result alias for node operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the node.
///
/// Display says what failed, on which file or block, and what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain database failed (open, read, write or commit).
    #[error(
        "chain database {path}: {operation} failed: check the disk, its free space and that no other cachet process uses this datadir"
    )]
    Store {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        operation: &'static str,
        /// The database's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A block's parent is not in the store.
    #[error("block {number} ({hash}) has unknown parent {parent}: import its ancestors first")]
    UnknownParent {
        /// The block number.
        number: u64,
        /// The block hash.
        hash: B256,
        /// The missing parent hash.
        parent: B256,
    },
    /// A block's number is not its parent's number plus one.
    #[error(
        "block {hash} claims number {number} but its parent is block {parent_number}: the block is invalid"
    )]
    NumberMismatch {
        /// The block hash.
        hash: B256,
        /// The number the caller gave.
        number: u64,
        /// The parent's stored number.
        parent_number: u64,
    },
    /// The store holds another genesis block.
    #[error(
        "chain database holds genesis {stored}, not {given}: this datadir belongs to another chain; use a fresh datadir or the right genesis file"
    )]
    GenesisMismatch {
        /// Genesis hash in the store.
        stored: B256,
        /// Genesis hash given.
        given: B256,
    },
    /// The same hash was given with different contents.
    #[error(
        "block {hash} is already stored with a different header, body or number: the caller computed the hash wrongly (this is a bug in cachet)"
    )]
    ConflictingBlock {
        /// The block hash.
        hash: B256,
    },
    /// The store's invariants do not hold (found by [`crate::store::ChainStore::check`]).
    #[error(
        "chain database {path} is inconsistent: {what}; restore the datadir from a backup or resync"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which invariant failed.
        what: String,
    },
    /// Unlocking the keys failed (exit code by the key provider's class).
    #[error("unlocking the node's keys failed")]
    Unlock(#[from] cachet_keyprovider::Error),
    /// The genesis file is unusable (its message names the file or field).
    #[error(transparent)]
    Genesis(#[from] cachet_genesis::Error),
    /// A block or header failed its seal or header rules, or could not be sealed.
    #[error("sealing or verifying block {number} failed")]
    Seal {
        /// The block number.
        number: u64,
        /// The seal crate's error.
        #[source]
        source: cachet_seal::Error,
    },
    /// A header or block could not be decoded.
    #[error("undecodable {what}")]
    Decode {
        /// What was decoded.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: BoxedSource,
    },
    /// A header or block does not have the RLP shape expected.
    #[error("undecodable {what}: {reason}")]
    Malformed {
        /// What was decoded.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A block in an import file is not a block RLP.
    #[error(
        "block #{index} in {path} is undecodable: check that the file holds block RLPs one after another (geth export format)"
    )]
    ImportFile {
        /// The file.
        path: PathBuf,
        /// The 0-based index of the block in the file.
        index: u64,
        /// Why it does not decode.
        #[source]
        source: Box<Self>,
    },
    /// A file the operator named (import file, `--raft-members`) cannot be read.
    #[error("cannot read {path}: check the path and its permissions")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The `--raft-members` file is not a raft-id to enode map.
    #[error("--raft-members {path} is not a raft-id to enode map: check its JSON")]
    RaftMembers {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: cachet_seal::DecodeError,
    },
    /// A block breaks a chain rule (parent, timestamp, gas limit, roots).
    #[error("block {number} rejected: {rule}")]
    InvalidBlock {
        /// The block number.
        number: u64,
        /// The rule that failed.
        rule: String,
    },
    /// The seal journal could not be opened or written (its message names the file and what
    /// to check).
    #[error(transparent)]
    Journal(cachet_seal::Error),
    /// The devp2p service failed to start.
    #[error("the devp2p service failed to start: check --port and --addr")]
    Network(#[from] cachet_devp2p::Error),
    /// A discovery socket could not be bound or the node record could not be signed.
    #[error("{protocol} discovery failed to start: check --discovery.port and --discv5.port")]
    Discovery {
        /// `discv4` or `discv5`.
        protocol: &'static str,
        /// The discovery service's error.
        #[source]
        source: BoxedSource,
    },
    /// The JSON-RPC server could not bind.
    #[error("the JSON-RPC server cannot listen on {addr}: check --http.addr and --http.port")]
    Rpc {
        /// The address.
        addr: std::net::SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON-RPC method could not be registered (two with one name).
    #[error("JSON-RPC method {name} could not be registered (this is a bug in cachet)")]
    RpcMethod {
        /// The method.
        name: &'static str,
        /// jsonrpsee's error.
        #[source]
        source: BoxedSource,
    },
    /// The engine in the genesis is not one this node can seal or follow yet.
    #[error(
        "engine {0} is not supported by this node yet: use a clique, istanbul (IBFT), ibft2, qbft or raft genesis"
    )]
    UnsupportedEngine(&'static str),
    /// A peer sent a block (or a QBFT message) signed by this node's sealing key that this node
    /// did not sign: another node seals with the same key. Sealing stopped (exit 15).
    #[error(
        "doppelganger: {} ({}) signed by this node's key {} arrived from peer {} but is not in this node's seal journal: another node is sealing with the same key (a copied datadir or bundle); sealing stopped. Stop the other node before restarting this one (docs/operations.md, \"Doppelganger check\")",
        .0.subject(), .0.hash, .0.signer, .0.peer
    )]
    Doppelganger(crate::doppelganger::Doppelganger),
    /// The master key was revoked while running: sealing stopped and the keys were wiped.
    #[error(
        "master key revoked while running ({0}): sealing stopped and keys wiped; restore KMS access and restart"
    )]
    KeysRevoked(String),
    /// The raft cluster committed an entry this member's rules refuse: the node stops rather
    /// than skip it (it would fork from the members that accept it).
    #[error(
        "raft: committed entry {index} (term {term}) refused: {rule}; this member stopped so its chain does not fork (check the cluster's members and keys: docs/dev/raft.md, \"The rules\")"
    )]
    RaftRefused {
        /// Log index.
        index: u64,
        /// Log term.
        term: u64,
        /// The rule, named.
        rule: cachet_raft::RaftRule,
    },
    /// The raft cluster driver failed (its store, a committed block that does not import, or
    /// this member was removed).
    #[error("raft: {what}")]
    Raft {
        /// What failed and what to check.
        what: String,
        /// The raft core's error, if any.
        #[source]
        source: Option<cachet_raft::Error>,
    },
    /// Node state (the datadir, a devnet file, `sealing.rlp`) could not be written: a local
    /// failure (exit 1), not a usage error.
    #[error("cannot write {path}: check the disk, its free space and the directory's permissions")]
    StateWrite {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A local master key for a devnet could not be created.
    #[error(transparent)]
    MasterKey(#[from] cachet_kms::Error),
    /// `--devnet-parent`: the devnet that started this node has exited, or the parent-death
    /// signal could not be set.
    #[error(
        "the devnet (pid {parent}) that started this node is gone or cannot be followed: start the devnet again"
    )]
    ParentGone {
        /// The devnet's pid.
        parent: u32,
        /// The `prctl` failure, if that was the cause.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Invalid configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// The world state in the chain database failed or contradicts itself.
    #[error(
        "the world state in the chain database failed: check the disk; if it persists, restore the datadir from a backup or resync"
    )]
    State(#[from] cachet_state::StateError),
    /// The genesis asks for execution rules this node does not implement (its message names
    /// the genesis key).
    #[error("this node cannot execute the chain the genesis describes")]
    Execution(#[from] cachet_execution::Unsupported),
    /// The stored genesis state does not hash to the genesis state root.
    #[error(
        "the genesis alloc loaded into the state has root {computed}, the genesis header says {expected} (this is a bug in cachet)"
    )]
    GenesisState {
        /// The root of the loaded state.
        computed: B256,
        /// The genesis header's state root.
        expected: B256,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Code, Failure};

    /// Every variant not already in the store's message test (`tests/it/store.rs`), with the
    /// exact text an operator reads; causes are printed after it by [`Failure`], never by
    /// Display.
    #[test]
    fn errors_say_what_failed_and_what_to_check() {
        let io = || std::io::Error::other("disk on fire");
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::Unlock(cachet_keyprovider::Error::KeysWiped),
                "unlocking the node's keys failed",
            ),
            (
                Error::Genesis(cachet_genesis::Error::NoEngine),
                "genesis config names no consensus engine: add config.clique, config.istanbul, config.qbft, config.ibft2 or \"raft\": true to config (or pass --raft)",
            ),
            (
                Error::Seal {
                    number: 7,
                    source: cachet_seal::Error::MissingRaftMembers,
                },
                "sealing or verifying block 7 failed",
            ),
            (
                Error::Decode {
                    what: "header",
                    source: Box::new(alloy_rlp::Error::InputTooShort),
                },
                "undecodable header",
            ),
            (
                Error::Malformed {
                    what: "block",
                    reason: "no header",
                },
                "undecodable block: no header",
            ),
            (
                Error::ImportFile {
                    path: "/x/chain.rlp".into(),
                    index: 3,
                    source: Box::new(Error::Malformed {
                        what: "block",
                        reason: "truncated block",
                    }),
                },
                "block #3 in /x/chain.rlp is undecodable: check that the file holds block RLPs one after another (geth export format)",
            ),
            (
                Error::ReadFile {
                    path: "/x/members.json".into(),
                    source: io(),
                },
                "cannot read /x/members.json: check the path and its permissions",
            ),
            (
                Error::RaftMembers {
                    path: "/x/members.json".into(),
                    source: cachet_seal::DecodeError::Truncated { what: "members" },
                },
                "--raft-members /x/members.json is not a raft-id to enode map: check its JSON",
            ),
            (
                Error::InvalidBlock {
                    number: 9,
                    rule: "timestamp not after the parent's".into(),
                },
                "block 9 rejected: timestamp not after the parent's",
            ),
            (
                Error::Journal(cachet_seal::Error::JournalLocked {
                    path: "/d/seal-journal".into(),
                }),
                "seal journal /d/seal-journal is locked by another process: is another cachet running on this datadir?",
            ),
            (
                Error::Network(cachet_devp2p::Error::ServiceStopped),
                "the devp2p service failed to start: check --port and --addr",
            ),
            (
                Error::Discovery {
                    protocol: "discv4",
                    source: Box::new(io()),
                },
                "discv4 discovery failed to start: check --discovery.port and --discv5.port",
            ),
            (
                Error::Rpc {
                    addr: "127.0.0.1:8545".parse().unwrap(),
                    source: io(),
                },
                "the JSON-RPC server cannot listen on 127.0.0.1:8545: check --http.addr and --http.port",
            ),
            (
                Error::RpcMethod {
                    name: "eth_chainId",
                    source: Box::new(io()),
                },
                "JSON-RPC method eth_chainId could not be registered (this is a bug in cachet)",
            ),
            (
                Error::UnsupportedEngine("ethash"),
                "engine ethash is not supported by this node yet: use a clique, istanbul (IBFT), ibft2, qbft or raft genesis",
            ),
            (
                Error::KeysRevoked("kms denied".into()),
                "master key revoked while running (kms denied): sealing stopped and keys wiped; restore KMS access and restart",
            ),
            (
                Error::StateWrite {
                    path: "/d/sealing.rlp".into(),
                    source: io(),
                },
                "cannot write /d/sealing.rlp: check the disk, its free space and the directory's permissions",
            ),
            (
                Error::Config("--port 0 is not allowed".into()),
                "configuration: --port 0 is not allowed",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    /// The CLI prints the error and then each cause once, so a Display without `{source}` loses
    /// nothing for the operator.
    #[test]
    fn failures_print_the_error_then_its_causes() {
        let failure = Failure::from(Error::StateWrite {
            path: "/d/sealing.rlp".into(),
            source: std::io::Error::other("No space left on device"),
        });
        assert_eq!(failure.code, Code::Failure);
        assert_eq!(
            failure.message,
            "cannot write /d/sealing.rlp: check the disk, its free space and the directory's permissions: No space left on device"
        );
        let failure = Failure::from(Error::Unlock(cachet_keyprovider::Error::Io {
            action: "read",
            path: "/d/keys.cachet".into(),
            source: std::io::Error::other("Input/output error"),
        }));
        assert_eq!(failure.code, Code::Failure);
        assert_eq!(
            failure.message,
            "read /d/keys.cachet failed: Input/output error"
        );
        let failure = Failure::from(Error::ReadFile {
            path: "/x/members.json".into(),
            source: std::io::Error::other("No such file or directory"),
        });
        assert_eq!(failure.code, Code::Usage);
        assert_eq!(
            failure.message,
            "cannot read /x/members.json: check the path and its permissions: No such file or directory"
        );
    }
}
