//! The block header and its strict RLP codec (`seal-formats.md` §0, "Header RLP") live in
//! `cachet_primitives`; re-exported here (the same type) for the engine modules.

pub use cachet_primitives::{EMPTY_OMMERS_HASH, Header, MAX_HEADER_BYTES};
