//! Prints the state root and hash of each genesis file given: `genesis-hash FILE...`.

use cachet_genesis::{Genesis, RaftMarker};

fn main() {
    for path in std::env::args().skip(1) {
        match Genesis::from_file(std::path::Path::new(&path), RaftMarker::Flag)
            .or_else(|_| Genesis::from_file(std::path::Path::new(&path), RaftMarker::FromGenesis))
        {
            Ok(g) => println!("{path} state_root={} hash={}", g.state_root(), g.hash()),
            Err(e) => println!("{path} error: {e}"),
        }
    }
}
