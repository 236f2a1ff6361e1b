//! The one bounded RLP reader and the small encoder live in `cachet_primitives::rlp`;
//! re-exported here for the extraData codecs.

pub(crate) use cachet_primitives::rlp::{
    Item, Reader, list, put_bytes, put_list, put_u64, single_list,
};
