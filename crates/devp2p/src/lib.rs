//! Cachet's devp2p stack, run on the node key the master key unlocked.
#![forbid(unsafe_code)]

pub mod discovery;
