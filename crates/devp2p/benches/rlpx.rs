//! RLPx benchmarks (filled in below).
fn main() {}
