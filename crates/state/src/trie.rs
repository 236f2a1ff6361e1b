//! The Merkle-Patricia trie over stored nodes, updated in batches.
//!
//! A [`Trie`] starts as a reference to a stored root. Reads and writes load only the nodes on
//! their paths (decoded with alloy-trie's node types) and keep them in memory; [`Trie::commit`]
//! then hashes the changed nodes bottom-up once and hands back the new nodes to store. Every
//! key is 64 nibbles long (a keccak256), so branches never carry values.
//!
//! Nodes are stored by the keccak256 of their RLP when that RLP is at least 32 bytes long;
//! shorter nodes are embedded in their parent, as the Yellow Paper requires. The root is always
//! stored by its hash, whatever its length, so it can be found again.

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
    /// The RLP of the node whose keccak256 is `hash`.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when it is absent; [`StateError::Store`] when the store fails.
    fn load(&self, hash: &B256) -> Result<Vec<u8>, StateError>;
}

impl<T: ReadableTable<&'static [u8; 32], &'static [u8]>> NodeSource for T {
    fn load(&self, hash: &B256) -> Result<Vec<u8>, StateError> {
        match self.get(&hash.0).map_err(store_err("read trie node"))? {
            Some(node) => Ok(node.value().to_vec()),
            None => Err(corrupt(format!("trie node {hash} is missing"))),
        }
    }
}

/// New nodes to store: keccak256 of the RLP → RLP.
pub(crate) type NewNodes = Vec<(B256, Vec<u8>)>;

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

/// A trie at some root, loaded lazily from `source`.
#[derive(Debug)]
pub(crate) struct Trie<'s, S> {
    source: &'s S,
    root: Node,
}

impl<'s, S: NodeSource> Trie<'s, S> {
    /// The trie whose root hash is `root` ([`EMPTY_ROOT_HASH`] for an empty trie).
    pub(crate) fn open(source: &'s S, root: B256) -> Self {
        let root = if root == EMPTY_ROOT_HASH {
            Node::Empty
        } else {
            Node::Ref(RlpNode::word_rlp(&root))
        };
        Self { source, root }
    }

    /// The value at `key`, `None` when absent. Keeps the loaded path for later updates.
    pub(crate) fn get(&mut self, key: &B256) -> Result<Option<Vec<u8>>, StateError> {
        let mut node = &mut self.root;
        let mut key = Nibbles::unpack(key);
        loop {
            if matches!(node, Node::Ref(_)) {
                let stored = std::mem::take(node);
                *node = resolve(self.source, stored, key.len())?;
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
        self.root = insert(self.source, root, Nibbles::unpack(key), value)?;
        Ok(())
    }

    /// Removes `key` (nothing happens when it is absent).
    pub(crate) fn remove(&mut self, key: &B256) -> Result<(), StateError> {
        let root = std::mem::take(&mut self.root);
        self.root = remove(self.source, root, Nibbles::unpack(key))?.0;
        Ok(())
    }

    /// Hashes the changed nodes bottom-up, appends those to store to `out` and returns the root
    /// hash.
    pub(crate) fn commit(&mut self, out: &mut NewNodes) -> B256 {
        match &self.root {
            Node::Empty => return EMPTY_ROOT_HASH,
            Node::Ref(rlp)
            | Node::Leaf { rlp: Some(rlp), .. }
            | Node::Extension { rlp: Some(rlp), .. }
            | Node::Branch { rlp: Some(rlp), .. } => {
                if let Some(hash) = rlp.as_hash() {
                    return hash;
                }
            }
            _ => {}
        }
        let encoded = encode(&mut self.root, out);
        let hash = keccak256(&encoded);
        out.push((hash, encoded));
        set_rlp(&mut self.root, RlpNode::word_rlp(&hash));
        hash
    }

    /// Every (key, value) of the trie, in key order (loads the whole trie: O(its size)).
    pub(crate) fn entries(&mut self) -> Result<Vec<(B256, Vec<u8>)>, StateError> {
        let mut out = Vec::new();
        let root = std::mem::take(&mut self.root);
        walk(self.source, root, Nibbles::new(), &mut out)?;
        Ok(out)
    }
}

/// Loads `node` if it is a reference; `remaining` is the number of key nibbles left at its
/// position, which the loaded node must fit.
fn resolve<S: NodeSource>(source: &S, node: Node, remaining: usize) -> Result<Node, StateError> {
    let Node::Ref(rlp) = node else {
        return Ok(node);
    };
    let bytes = match rlp.as_hash() {
        Some(hash) => source.load(&hash)?,
        None => rlp.to_vec(),
    };
    let mut buf = bytes.as_slice();
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

fn insert<S: NodeSource>(
    source: &S,
    node: Node,
    key: Nibbles,
    value: Vec<u8>,
) -> Result<Node, StateError> {
    Ok(match resolve(source, node, key.len())? {
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
                let child = insert(source, *child, key.slice(p..), value)?;
                Node::Extension {
                    key: k,
                    child: Box::new(child),
                    rlp: None,
                }
            } else {
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
            *slot = insert(source, child, key.slice(1..), value)?;
            branch(children)
        }
        Node::Ref(_) => return Err(unresolved()),
    })
}

/// Removes `key` below `node`; the flag says whether anything changed.
fn remove<S: NodeSource>(source: &S, node: Node, key: Nibbles) -> Result<(Node, bool), StateError> {
    Ok(match resolve(source, node, key.len())? {
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
            let (child, changed) = remove(source, *child, key.slice(k.len()..))?;
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
            let (child, changed) = remove(source, child, key.slice(1..))?;
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
                    let slot = child_mut(&mut children, only)?;
                    let child = resolve(source, std::mem::take(slot), key.len() - 1)?;
                    let nibble = u8::try_from(only).map_err(|_| unresolved())?;
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

/// Appends every leaf below `node` (at `path`) to `out`, in key order.
fn walk<S: NodeSource>(
    source: &S,
    node: Node,
    path: Nibbles,
    out: &mut Vec<(B256, Vec<u8>)>,
) -> Result<(), StateError> {
    match resolve(source, node, KEY_NIBBLES - path.len())? {
        Node::Empty => {}
        Node::Leaf { key, value, .. } => {
            let full = path.join(&key);
            let mut hash = B256::ZERO;
            full.pack_to(hash.as_mut_slice());
            out.push((hash, value));
        }
        Node::Extension { key, child, .. } => walk(source, *child, path.join(&key), out)?,
        Node::Branch { children, .. } => {
            for (index, child) in (0u8..).zip(*children) {
                let mut below = path;
                below.push(index);
                walk(source, child, below, out)?;
            }
        }
        Node::Ref(_) => return Err(unresolved()),
    }
    Ok(())
}

/// The RLP of `node` (loaded), hashing its changed children first.
fn encode(node: &mut Node, out: &mut NewNodes) -> Vec<u8> {
    let mut buf = Vec::new();
    match node {
        Node::Empty | Node::Ref(_) => {
            // Never reached for a changed node; an empty string is the RLP of "no node".
            buf.push(alloy_rlp::EMPTY_STRING_CODE);
        }
        Node::Leaf { key, value, .. } => LeafNodeRef::new(key, value).encode(&mut buf),
        Node::Extension { key, child, .. } => {
            let child = reference(child, out);
            ExtensionNodeRef::new(key, &child).encode(&mut buf);
        }
        Node::Branch { children, .. } => {
            let mut stack = Vec::with_capacity(16);
            let mut mask = TrieMask::default();
            for (index, child) in (0u8..).zip(children.iter_mut()) {
                if !matches!(child, Node::Empty) {
                    stack.push(reference(child, out));
                    mask.set_bit(index);
                }
            }
            BranchNodeRef::new(&stack, mask).encode(&mut buf);
        }
    }
    buf
}

/// `node`'s reference in its parent: its RLP when shorter than 32 bytes, else the RLP of its
/// hash (then the node goes to `out`).
fn reference(node: &mut Node, out: &mut NewNodes) -> RlpNode {
    match node {
        Node::Ref(rlp)
        | Node::Leaf { rlp: Some(rlp), .. }
        | Node::Extension { rlp: Some(rlp), .. }
        | Node::Branch { rlp: Some(rlp), .. } => return rlp.clone(),
        _ => {}
    }
    let encoded = encode(node, out);
    let rlp = RlpNode::from_rlp(&encoded);
    if rlp.is_hash() {
        out.push((keccak256(&encoded), encoded));
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
