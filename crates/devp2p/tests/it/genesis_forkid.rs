//! devp2p's EIP-2124 code agrees with the genesis crate's on every genesis in `testdata/genesis`.

use cachet_devp2p::eth::{ForkId, ForkSchedule};
use cachet_genesis::{Genesis, RaftMarker};

#[test]
fn agrees_with_the_genesis_crate_on_every_testdata_genesis() {
    let dir = cachet_testkit::workspace_root().join("testdata/genesis");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(g) = Genesis::from_file(&path, RaftMarker::FromGenesis) else {
            continue;
        };
        let theirs = g.fork_schedule();
        let blocks = g.config.fork_id_blocks();
        let times = g.config.fork_id_times(g.timestamp);
        let ours = ForkSchedule::new(g.hash(), &blocks, &times, g.timestamp);
        let mut heads: Vec<(u64, u64)> = vec![(0, g.timestamp), (u64::MAX / 2, u64::MAX / 2)];
        for b in &blocks {
            heads.extend([
                (b - 1, g.timestamp),
                (*b, g.timestamp),
                (b + 1, g.timestamp),
            ]);
        }
        let last = blocks.last().copied().unwrap_or(0);
        for t in &times {
            heads.extend([(last, t - 1), (last, *t), (last, t + 1)]);
        }
        for (n, t) in heads {
            let a = ours.fork_id(n, t);
            let b = theirs.fork_id(n, t);
            assert_eq!(
                (a.hash, a.next),
                (b.hash.0, b.next),
                "{} at ({n}, {t})",
                path.display()
            );
            // And both accept each other's id and agree on a foreign one.
            assert!(ours.validate(n, t, &a).is_ok());
            let foreign = ForkId {
                hash: [0xde, 0xad, 0xbe, 0xef],
                next: 0,
            };
            let theirs_foreign = cachet_genesis::ForkId {
                hash: cachet_genesis::ForkHash(foreign.hash),
                next: 0,
            };
            assert_eq!(
                ours.validate(n, t, &foreign).is_ok(),
                theirs.validate(theirs_foreign, n, t).is_ok()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} genesis files parsed in {}",
        dir.display()
    );
}
