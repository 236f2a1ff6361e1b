//! geth's `devp2p discv4` tool (v1.17.10) against our service.
