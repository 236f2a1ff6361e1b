//! A process-wide cache of trie nodes by hash, so the nodes every block walks through (the
//! root and the top levels) come from memory instead of the database.
//!
//! Nodes are content-addressed: the bytes under a hash are the only bytes that hash to it,
//! whichever database or transaction they came from, so the cache never returns wrong data.
//! It can serve a node whose writing transaction was aborted; such a node is only reached from
//! a root that was never stored, which the node never asks for.
//!
//! Two generations bound the memory: new and used nodes go into the young one; when it holds
//! [`GENERATION_BYTES`], it becomes the old one (the previous old one is dropped), and a node
//! found in the old generation moves back into the young one.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use alloy_primitives::B256;

/// Bytes of node RLP per generation (two generations: at most twice this, plus the maps).
const GENERATION_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
struct Generations {
    young: HashMap<B256, Arc<[u8]>>,
    young_bytes: usize,
    old: HashMap<B256, Arc<[u8]>>,
}

impl Generations {
    fn insert(&mut self, hash: B256, node: Arc<[u8]>) {
        if self.young_bytes >= GENERATION_BYTES {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += node.len();
        self.young.insert(hash, node);
    }
}

static NODES: Mutex<Option<Generations>> = Mutex::new(None);

/// The node whose hash is `hash`, if cached.
pub(crate) fn get(hash: &B256) -> Option<Arc<[u8]>> {
    if bypassed() {
        return None;
    }
    let mut nodes = NODES.lock().unwrap_or_else(PoisonError::into_inner);
    let nodes = nodes.as_mut()?;
    if let Some(node) = nodes.young.get(hash) {
        return Some(Arc::clone(node));
    }
    let node = nodes.old.remove(hash)?;
    nodes.insert(*hash, Arc::clone(&node));
    Some(node)
}

/// Caches `node` under its hash.
pub(crate) fn put(hash: B256, node: Arc<[u8]>) {
    if bypassed() {
        return;
    }
    let mut nodes = NODES.lock().unwrap_or_else(PoisonError::into_inner);
    nodes
        .get_or_insert_with(Generations::default)
        .insert(hash, node);
}

#[cfg(not(test))]
const fn bypassed() -> bool {
    false
}

#[cfg(test)]
thread_local! {
    static BYPASS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn bypassed() -> bool {
    BYPASS.with(std::cell::Cell::get)
}

/// Makes this thread read every node from the database (tests of corrupt or missing nodes,
/// which a cached copy from another test would hide).
#[cfg(test)]
pub(crate) fn bypass_on_this_thread() {
    set_bypass(true);
}

/// Makes this thread read every node from the database (`true`) or use the cache.
#[cfg(test)]
pub(crate) fn set_bypass(bypass: bool) {
    BYPASS.with(|cell| cell.set(bypass));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_nodes_between_generations_and_forgets_old_ones() {
        let mut generations = Generations::default();
        let big: Arc<[u8]> = vec![0u8; GENERATION_BYTES].into();
        generations.insert(B256::repeat_byte(1), Arc::clone(&big));
        generations.insert(B256::repeat_byte(2), Arc::clone(&big));
        assert!(generations.old.contains_key(&B256::repeat_byte(1)));
        assert!(generations.young.contains_key(&B256::repeat_byte(2)));
        generations.insert(B256::repeat_byte(3), big);
        assert!(!generations.old.contains_key(&B256::repeat_byte(1)));
        assert!(generations.old.contains_key(&B256::repeat_byte(2)));
    }
}
