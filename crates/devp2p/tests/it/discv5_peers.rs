//! discv5 through sigp's crate: Cachet to Cachet and `@chainsafe/discv5` 10.0.1.
