//! Independent checks against py-evm, `EthereumJS` and the `PyPI` `rlp` package (run by `scripts/test`).
