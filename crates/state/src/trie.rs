//! The Merkle-Patricia trie over stored nodes, updated in batches.
//!
//! A [`Trie`] starts as a reference to a stored root. Reads and writes load only the nodes on
//! their paths (decoded with alloy-trie's node types) and keep them in memory; [`Trie::commit`]
//! then hashes the changed nodes bottom-up once and hands back the new nodes to store. Every
//! key is 64 nibbles long (a keccak256), so branches never carry values.
//!
//! Nodes are stored by their *path* (decision 430): the trie they belong to (the account trie,
//! or an account's storage trie named by the keccak256 of its address) and the nibbles from the
//! root to them ([`node_key`]). Only the current version of each node is kept, so a trie holds
//! one state, the canonical head's; older states come from the change sets. A node is stored
//! when its RLP is at least 32 bytes long (its parent refers to it by hash); shorter nodes are
//! embedded in their parent, as the Yellow Paper requires. The root is always stored, at the
//! empty path. A loaded node is checked against the hash its parent names, so a stale or
//! damaged node is an error, never a silent misread.

use std::collections::HashSet;

use alloy_primitives::{B256, keccak256};
use alloy_rlp::{Decodable, Encodable};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode, TrieNode},
};
use redb::ReadableTable;

use crate::{
    StateError,
    tables::{corrupt, store_err},
};

/// The number of nibbles in a key (a keccak256).
const KEY_NIBBLES: usize = 64;

/// Where a trie loads stored nodes from.
pub(crate) trait NodeSource {
    /// The RLP of the node stored under `key` ([`node_key`]), `None` when there is none.
    ///
    /// # Errors
    /// [`StateError::Store`] when the store fails.
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

impl<T: ReadableTable<&'static [u8], &'static [u8]>> NodeSource for T {
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .get(key)
            .map_err(store_err("read trie node"))?
            .map(|node| node.value().to_vec()))
    }
}

/// The tag of the account trie's node keys.
const ACCOUNT_TRIE: u8 = 0;
/// The tag of storage tries' node keys (followed by the owner).
const STORAGE_TRIE: u8 = 1;

/// The key of the node at `path` in the account trie (`owner` `None`) or in the storage trie of
/// the account whose keccak256 is `owner`: tag ‖ [owner] ‖ packed path ‖ path length. Nodes of
/// one trie, and nodes near each other in it, sort next to each other (the locality the keccak
/// keys lacked, decision 430).
pub(crate) fn node_key(owner: Option<&B256>, path: &Nibbles) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 32 + 33 + 1);
    match owner {
        None => key.push(ACCOUNT_TRIE),
        Some(owner) => {
            key.push(STORAGE_TRIE);
            key.extend_from_slice(owner.as_slice());
        }
    }
    key.extend_from_slice(&path.pack());
    // At most 64: fits a byte.
    key.push(path.len() as u8);
    key
}

/// The first and the last possible key of `owner`'s storage trie (for deleting it whole).
pub(crate) fn storage_range(owner: &B256) -> (Vec<u8>, Vec<u8>) {
    let mut first = Vec::with_capacity(33);
    first.push(STORAGE_TRIE);
    first.extend_from_slice(owner.as_slice());
    let mut last = first.clone();
    // Longer than any packed path ‖ length (33 bytes), all 0xff: after every key of the trie.
    last.extend_from_slice(&[0xff; 34]);
    (first, last)
}

/// What committing tries writes: nodes to put, nodes to delete, storage tries to delete whole.
#[derive(Debug, Default)]
pub(crate) struct NewNodes {
    /// Storage tries to delete whole (by owner) before anything else is written.
    pub(crate) wiped: Vec<B256>,
    /// Node keys whose node no longer exists.
    pub(crate) deleted: Vec<Vec<u8>>,
    /// Node key → RLP.
    pub(crate) put: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A trie node in memory. `rlp` is the node's reference in its parent while the node is
/// unchanged since it was loaded or hashed (`None` once changed).
#[derive(Debug, Default)]
enum Node {
    /// No node (an empty trie, an empty branch slot).
    #[default]
    Empty,
    /// A stored or embedded node not loaded yet.
    Ref(RlpNode),
    /// A leaf: the rest of the key and the value.
    Leaf {
        key: Nibbles,
        value: Vec<u8>,
        rlp: Option<RlpNode>,
    },
    /// An extension: a shared key part and the branch below it.
    Extension {
        key: Nibbles,
        child: Box<Self>,
        rlp: Option<RlpNode>,
    },
    /// A branch: sixteen children.
    Branch {
        children: Box<[Self; 16]>,
        rlp: Option<RlpNode>,
    },
}

/// Loads nodes of one trie and remembers the paths it loaded from the store.
#[derive(Debug)]
struct Loader<'s, S> {
    source: &'s S,
    owner: Option<B256>,
    loaded: Vec<Nibbles>,
}

/// The trie of `owner` (see [`node_key`]) as stored, loaded lazily from `source`.
#[derive(Debug)]
pub(crate) struct Trie<'s, S> {
    loader: Loader<'s, S>,
    root: Node,
}

impl<'s, S: NodeSource> Trie<'s, S> {
    /// The account trie (`owner` `None`) or `owner`'s storage trie, whose stored root hash is
    /// `root` ([`EMPTY_ROOT_HASH`] for an empty trie).
    pub(crate) fn open(source: &'s S, owner: Option<B256>, root: B256) -> Self {
        let root = if root == EMPTY_ROOT_HASH {
            Node::Empty
        } else {
            Node::Ref(RlpNode::word_rlp(&root))
        };
        Self {
            loader: Loader {
                source,
                owner,
                loaded: Vec::new(),
            },
            root,
        }
    }

    /// The value at `key`, `None` when absent. Keeps the loaded path for later updates.
    pub(crate) fn get(&mut self, key: &B256) -> Result<Option<Vec<u8>>, StateError> {
        let mut node = &mut self.root;
        let full = Nibbles::unpack(key);
        let mut key = full;
        loop {
            if matches!(node, Node::Ref(_)) {
                let stored = std::mem::take(node);
                let path = full.slice(..KEY_NIBBLES - key.len());
                *node = self.loader.resolve(stored, &path)?;
            }
            match node {
                Node::Empty => return Ok(None),
                Node::Leaf { key: k, value, .. } => {
                    return Ok((*k == key).then(|| value.clone()));
                }
                Node::Extension { key: k, child, .. } => {
                    if !key.starts_with(k) {
                        return Ok(None);
                    }
                    key = key.slice(k.len()..);
                    node = child;
                }
                Node::Branch { children, .. } => {
                    let index = nibble(&key, 0)?;
                    key = key.slice(1..);
                    node = child_mut(children, index)?;
                }
                Node::Ref(_) => return Err(unresolved()),
            }
        }
    }

    /// Sets `key` to `value` (an RLP string's payload, never empty).
    pub(crate) fn insert(&mut self, key: &B256, value: Vec<u8>) -> Result<(), StateError> {
        let root = std::mem::take(&mut self.root);
        self.root = self
            .loader
            .insert(root, Nibbles::new(), Nibbles::unpack(key), value)?;
        Ok(())
    }

    /// Removes `key` (nothing happens when it is absent).
    pub(crate) fn remove(&mut self, key: &B256) -> Result<(), StateError> {
        let root = std::mem::take(&mut self.root);
        self.root = self
            .loader
            .remove(root, Nibbles::new(), Nibbles::unpack(key))?
            .0;
        Ok(())
    }

    /// Hashes the changed nodes bottom-up, appends the nodes to store and those to delete to
    /// `out` and returns the root hash.
    pub(crate) fn commit(&mut self, out: &mut NewNodes) -> B256 {
        let owner = self.loader.owner;
        let key = |path: &Nibbles| node_key(owner.as_ref(), path);
        let hash = match &self.root {
            Node::Empty => EMPTY_ROOT_HASH,
            Node::Ref(rlp)
            | Node::Leaf { rlp: Some(rlp), .. }
            | Node::Extension { rlp: Some(rlp), .. }
            | Node::Branch { rlp: Some(rlp), .. }
                if rlp.as_hash().is_some() =>
            {
                // Unchanged: nothing was written or removed.
                return rlp.as_hash().unwrap_or(EMPTY_ROOT_HASH);
            }
            _ => {
                let mut written = Vec::new();
                let encoded = encode(&mut self.root, Nibbles::new(), &mut written);
                let hash = keccak256(&encoded);
                written.push((Nibbles::new(), encoded));
                set_rlp(&mut self.root, RlpNode::word_rlp(&hash));
                out.put
                    .extend(written.into_iter().map(|(path, node)| (key(&path), node)));
                hash
            }
        };
        // Stored nodes loaded for this commit that are no longer in the trie (a collapsed
        // branch, a leaf moved up, a node now short enough to be embedded) are deleted.
        let mut live = HashSet::new();
        live_paths(owner.as_ref(), &self.root, &mut live);
        for path in std::mem::take(&mut self.loader.loaded) {
            let path = key(&path);
            if !live.contains(&path) {
                out.deleted.push(path);
            }
        }
        hash
    }
}

/// Adds the key of every stored node of the loaded part of the tree to `live` (a node is
/// stored when its parent refers to it by hash, and at the root).
fn live_paths(owner: Option<&B256>, node: &Node, live: &mut HashSet<Vec<u8>>) {
    collect_live(owner, node, Nibbles::new(), true, live);
}

fn collect_live(
    owner: Option<&B256>,
    node: &Node,
    path: Nibbles,
    is_root: bool,
    out: &mut HashSet<Vec<u8>>,
) {
    let stored = |rlp: &Option<RlpNode>| is_root || rlp.as_ref().is_some_and(RlpNode::is_hash);
    match node {
        Node::Empty | Node::Ref(_) => {}
        Node::Leaf { rlp, .. } => {
            if stored(rlp) {
                out.insert(node_key(owner, &path));
            }
        }
        Node::Extension { key, child, rlp } => {
            if stored(rlp) {
                out.insert(node_key(owner, &path));
            }
            collect_live(owner, child, path.join(key), false, out);
        }
        Node::Branch { children, rlp } => {
            if stored(rlp) {
                out.insert(node_key(owner, &path));
            }
            for (index, child) in children.iter().enumerate() {
                collect_live(owner, child, below(path, index), false, out);
            }
        }
    }
}
impl<S: NodeSource> Loader<'_, S> {
    /// Loads `node` if it is a reference; `path` is its position, whose remaining key nibbles
    /// the loaded node must fit.
    fn resolve(&mut self, node: Node, path: &Nibbles) -> Result<Node, StateError> {
        let Node::Ref(rlp) = node else {
            return Ok(node);
        };
        let remaining = KEY_NIBBLES.saturating_sub(path.len());
        let bytes = match rlp.as_hash() {
            Some(hash) => {
                let key = node_key(self.owner.as_ref(), path);
                let bytes = self.source.load(&key)?.ok_or_else(|| {
                    corrupt(format!(
                        "trie node {hash} at path {path:?} of {} is missing",
                        trie_name(self.owner.as_ref())
                    ))
                })?;
                // A stale node (left at its path by a bug) or a damaged one is refused here
                // rather than read as the state.
                if keccak256(&bytes) != hash {
                    return Err(corrupt(format!(
                        "trie node at path {path:?} of {} is not {hash}",
                        trie_name(self.owner.as_ref())
                    )));
                }
                self.loaded.push(*path);
                bytes
            }
            None => rlp.to_vec(),
        };
        decode_node(rlp, &bytes, remaining)
    }

    fn insert(
        &mut self,
        node: Node,
        path: Nibbles,
        key: Nibbles,
        value: Vec<u8>,
    ) -> Result<Node, StateError> {
        Ok(match self.resolve(node, &path)? {
            Node::Empty => leaf(key, value),
            Node::Leaf {
                key: k,
                value: v,
                rlp,
            } => {
                if k == key {
                    if v == value {
                        Node::Leaf {
                            key: k,
                            value: v,
                            rlp,
                        }
                    } else {
                        leaf(k, value)
                    }
                } else {
                    // Both keys have the same length and differ, so `p` < their length.
                    let p = k.common_prefix_length(&key);
                    let mut children = empty_children();
                    *child_mut(&mut children, nibble(&k, p)?)? = leaf(k.slice(p + 1..), v);
                    *child_mut(&mut children, nibble(&key, p)?)? = leaf(key.slice(p + 1..), value);
                    under_prefix(key.slice(..p), branch(children))
                }
            }
            Node::Extension { key: k, child, .. } => {
                // `resolve` checked k.len() < key.len(), so `p` < key.len().
                let p = k.common_prefix_length(&key);
                if p == k.len() {
                    let child = self.insert(*child, path.join(&k), key.slice(p..), value)?;
                    Node::Extension {
                        key: k,
                        child: Box::new(child),
                        rlp: None,
                    }
                } else {
                    // The child keeps its position (path ‖ k): only the nodes above it change.
                    let mut children = empty_children();
                    *child_mut(&mut children, nibble(&k, p)?)? = if p + 1 < k.len() {
                        Node::Extension {
                            key: k.slice(p + 1..),
                            child,
                            rlp: None,
                        }
                    } else {
                        *child
                    };
                    *child_mut(&mut children, nibble(&key, p)?)? = leaf(key.slice(p + 1..), value);
                    under_prefix(key.slice(..p), branch(children))
                }
            }
            Node::Branch { mut children, .. } => {
                let index = nibble(&key, 0)?;
                let slot = child_mut(&mut children, index)?;
                let child = std::mem::take(slot);
                *slot = self.insert(child, below(path, index), key.slice(1..), value)?;
                branch(children)
            }
            Node::Ref(_) => return Err(unresolved()),
        })
    }

    /// Removes `key` below `node`; the flag says whether anything changed.
    fn remove(
        &mut self,
        node: Node,
        path: Nibbles,
        key: Nibbles,
    ) -> Result<(Node, bool), StateError> {
        Ok(match self.resolve(node, &path)? {
            Node::Empty => (Node::Empty, false),
            Node::Leaf { key: k, value, rlp } => {
                if k == key {
                    (Node::Empty, true)
                } else {
                    (Node::Leaf { key: k, value, rlp }, false)
                }
            }
            Node::Extension { key: k, child, rlp } => {
                if !key.starts_with(&k) {
                    return Ok((Node::Extension { key: k, child, rlp }, false));
                }
                let (child, changed) = self.remove(*child, path.join(&k), key.slice(k.len()..))?;
                if changed {
                    (prefixed(k, child)?, true)
                } else {
                    (
                        Node::Extension {
                            key: k,
                            child: Box::new(child),
                            rlp,
                        },
                        false,
                    )
                }
            }
            Node::Branch { mut children, rlp } => {
                let index = nibble(&key, 0)?;
                let slot = child_mut(&mut children, index)?;
                let child = std::mem::take(slot);
                let (child, changed) = self.remove(child, below(path, index), key.slice(1..))?;
                *slot = child;
                if !changed {
                    return Ok((Node::Branch { children, rlp }, false));
                }
                let mut live = children
                    .iter()
                    .enumerate()
                    .filter(|(_, child)| !matches!(child, Node::Empty));
                match (live.next(), live.next()) {
                    (None, _) => (Node::Empty, true),
                    (Some(_), Some(_)) => (branch(children), true),
                    (Some((only, _)), None) => {
                        // One child left: the branch collapses into it, its nibble prefixed.
                        let nibble = u8::try_from(only).map_err(|_| unresolved())?;
                        let slot = child_mut(&mut children, only)?;
                        let child = self.resolve(std::mem::take(slot), &below(path, only))?;
                        (
                            prefixed(Nibbles::from_nibbles_unchecked([nibble]), child)?,
                            true,
                        )
                    }
                }
            }
            Node::Ref(_) => return Err(unresolved()),
        })
    }
}

/// The path of child `index` of the branch at `path`.
fn below(path: Nibbles, index: usize) -> Nibbles {
    let mut below = path;
    // A child index is below 16.
    below.push(index as u8);
    below
}

/// The name of a trie in errors.
fn trie_name(owner: Option<&B256>) -> String {
    match owner {
        None => "the account trie".into(),
        Some(owner) => format!("the storage trie of {owner}"),
    }
}

/// Decodes the node `rlp` refers to (`bytes`: its RLP) at a position with `remaining` key
/// nibbles left.
fn decode_node(rlp: RlpNode, bytes: &[u8], remaining: usize) -> Result<Node, StateError> {
    let mut buf = bytes;
    let decoded = TrieNode::decode(&mut buf)
        .map_err(|e| corrupt(format!("trie node {rlp:?} does not decode: {e}")))?;
    if !buf.is_empty() {
        return Err(corrupt(format!("trie node {rlp:?} has trailing bytes")));
    }
    let bad = |what: &str| {
        corrupt(format!(
            "trie node {rlp:?} {what} at depth {}",
            KEY_NIBBLES.saturating_sub(remaining)
        ))
    };
    match decoded {
        TrieNode::EmptyRoot => Err(bad("is an empty node inside the trie")),
        TrieNode::Leaf(leaf) => {
            if leaf.key.len() != remaining {
                return Err(bad("is a leaf whose key does not end at 64 nibbles"));
            }
            Ok(Node::Leaf {
                key: leaf.key,
                value: leaf.value,
                rlp: Some(rlp),
            })
        }
        TrieNode::Extension(ext) => {
            if ext.key.is_empty() || ext.key.len() >= remaining {
                return Err(bad("is an extension of impossible length"));
            }
            Ok(Node::Extension {
                key: ext.key,
                child: Box::new(Node::Ref(ext.child)),
                rlp: Some(rlp),
            })
        }
        TrieNode::Branch(branch) => {
            if remaining == 0 {
                return Err(bad("is a branch below the last nibble"));
            }
            let mut children: Box<[Node; 16]> = Box::new(std::array::from_fn(|_| Node::Empty));
            let mut stack = branch.stack.into_iter();
            for (index, child) in children.iter_mut().enumerate() {
                if branch.state_mask.is_bit_set(index as u8) {
                    let reference = stack
                        .next()
                        .ok_or_else(|| bad("is a branch with fewer children than its mask"))?;
                    *child = Node::Ref(reference);
                }
            }
            Ok(Node::Branch {
                children,
                rlp: Some(rlp),
            })
        }
    }
}

/// `node` (loaded) moved up under `prefix`: leaves and extensions absorb it, a branch gets an
/// extension above it.
fn prefixed(prefix: Nibbles, node: Node) -> Result<Node, StateError> {
    Ok(match node {
        Node::Empty => Node::Empty,
        Node::Leaf { key, value, .. } => leaf(prefix.join(&key), value),
        Node::Extension { key, child, .. } => Node::Extension {
            key: prefix.join(&key),
            child,
            rlp: None,
        },
        branch @ Node::Branch { .. } => under_prefix(prefix, branch),
        Node::Ref(_) => return Err(unresolved()),
    })
}

/// `branch` under an extension with `prefix` (none when the prefix is empty).
fn under_prefix(prefix: Nibbles, branch: Node) -> Node {
    if prefix.is_empty() {
        branch
    } else {
        Node::Extension {
            key: prefix,
            child: Box::new(branch),
            rlp: None,
        }
    }
}

/// Paths and RLP of the nodes to store, appended while encoding.
type Written = Vec<(Nibbles, Vec<u8>)>;

/// The RLP of `node` (loaded, at `path`), hashing its changed children first.
fn encode(node: &mut Node, path: Nibbles, out: &mut Written) -> Vec<u8> {
    let mut buf = Vec::new();
    match node {
        Node::Empty | Node::Ref(_) => {
            // Never reached for a changed node; an empty string is the RLP of "no node".
            buf.push(alloy_rlp::EMPTY_STRING_CODE);
        }
        Node::Leaf { key, value, .. } => LeafNodeRef::new(key, value).encode(&mut buf),
        Node::Extension { key, child, .. } => {
            let child = reference(child, path.join(key), out);
            ExtensionNodeRef::new(key, &child).encode(&mut buf);
        }
        Node::Branch { children, .. } => {
            let mut stack = Vec::with_capacity(16);
            let mut mask = TrieMask::default();
            for (index, child) in (0u8..).zip(children.iter_mut()) {
                if !matches!(child, Node::Empty) {
                    stack.push(reference(child, below(path, usize::from(index)), out));
                    mask.set_bit(index);
                }
            }
            BranchNodeRef::new(&stack, mask).encode(&mut buf);
        }
    }
    buf
}

/// `node`'s reference in its parent: its RLP when shorter than 32 bytes, else the RLP of its
/// hash (then the node goes to `out`, at `path`).
fn reference(node: &mut Node, path: Nibbles, out: &mut Written) -> RlpNode {
    match node {
        Node::Ref(rlp)
        | Node::Leaf { rlp: Some(rlp), .. }
        | Node::Extension { rlp: Some(rlp), .. }
        | Node::Branch { rlp: Some(rlp), .. } => return rlp.clone(),
        _ => {}
    }
    let encoded = encode(node, path, out);
    let rlp = RlpNode::from_rlp(&encoded);
    if rlp.is_hash() {
        out.push((path, encoded));
    }
    set_rlp(node, rlp.clone());
    rlp
}

fn set_rlp(node: &mut Node, reference: RlpNode) {
    match node {
        Node::Leaf { rlp, .. } | Node::Extension { rlp, .. } | Node::Branch { rlp, .. } => {
            *rlp = Some(reference);
        }
        Node::Empty | Node::Ref(_) => {}
    }
}

const fn leaf(key: Nibbles, value: Vec<u8>) -> Node {
    Node::Leaf {
        key,
        value,
        rlp: None,
    }
}

const fn branch(children: Box<[Node; 16]>) -> Node {
    Node::Branch {
        children,
        rlp: None,
    }
}

fn empty_children() -> Box<[Node; 16]> {
    Box::new(std::array::from_fn(|_| Node::Empty))
}

fn child_mut(children: &mut [Node; 16], index: usize) -> Result<&mut Node, StateError> {
    children.get_mut(index).ok_or_else(unresolved)
}

/// The nibble at `index` as a child index.
fn nibble(key: &Nibbles, index: usize) -> Result<usize, StateError> {
    key.get(index)
        .map(usize::from)
        .ok_or_else(|| corrupt(format!("trie key {key:?} has no nibble {index}")))
}

/// An internal invariant broke (a node used before it was loaded).
fn unresolved() -> StateError {
    corrupt("trie walk reached a node it had not loaded (this is a bug in cachet)")
}
