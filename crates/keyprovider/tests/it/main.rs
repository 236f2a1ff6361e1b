//! Integration tests for the key provider: imports against the shared vectors, the bundle's
//! resistance to corruption and tampering, and secret hygiene on disk.

mod bundle;
mod hsm_keys;
mod hygiene;
mod imports;
mod slots;
mod support;
