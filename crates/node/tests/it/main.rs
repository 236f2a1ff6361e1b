//! Integration tests for `cachet-node`.

mod crash;
mod store;
