//! The hive client definition (`hive/cachet/`): every file its Dockerfile copies exists, and
//! `mapper.jq` (run by the real `jq`, as the container does) turns hive's sample genesis files
//! (`hive/testdata`, copied from ethereum/hive) into genesis files `cachet` accepts. The
//! container's behaviour itself is exercised by `hive/run-local` (run by scripts/test).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `COPY`/`ADD` sources taken from the build context (not `--from=` another stage).
fn context_sources(dockerfile: &str) -> Vec<String> {
    dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("COPY ") || l.starts_with("ADD "))
        .filter(|l| !l.contains("--from="))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().skip(1).collect();
            let sources = words.len().saturating_sub(1);
            words
                .into_iter()
                .take(sources)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn dockerfile_copies_only_files_that_exist_and_scripts_are_executable() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = repo().join("hive/cachet");
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    let sources = context_sources(&dockerfile);
    for want in ["cachet.sh", "mapper.jq", "genesis.json", "enode.sh"] {
        assert!(sources.iter().any(|s| s == want), "{want} not copied");
    }
    for source in &sources {
        assert!(
            dir.join(source).is_file(),
            "Dockerfile copies missing {source}"
        );
    }
    for script in ["cachet.sh", "enode.sh"] {
        let mode = std::fs::metadata(dir.join(script))
            .unwrap()
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0, "{script} is not executable");
    }
    assert!(
        dockerfile.contains("/version.txt"),
        "hive reads /version.txt"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"/cachet.sh\"]"));
    let roles = std::fs::read_to_string(dir.join("hive.yaml")).unwrap();
    assert!(roles.contains("eth1"));
}

/// Runs `jq -f mapper.jq` on a hive genesis with `env`, then `cachet genesis --json` on it.
fn mapped(genesis: &str, env: &[(&str, &str)]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut jq = Command::new("jq");
    jq.env_clear()
        .arg("-f")
        .arg(repo().join("hive/cachet/mapper.jq"))
        .arg(repo().join("hive/testdata").join(genesis));
    jq.envs(env.iter().copied());
    let out = jq
        .output()
        .expect("jq is missing: run scripts/install-test-peers");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("genesis.json");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["genesis", "--json", "--genesis"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cachet refused the mapped {genesis}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// hive's smoke/clique parameters (ethereum/hive simulators/smoke/clique/clique.go).
const SMOKE_CLIQUE: &[(&str, &str)] = &[
    ("HIVE_CLIQUE_PERIOD", "2"),
    ("HIVE_CHAIN_ID", "1334"),
    ("HIVE_FORK_HOMESTEAD", "0"),
    ("HIVE_FORK_TANGERINE", "0"),
    ("HIVE_FORK_SPURIOUS", "0"),
    ("HIVE_FORK_BYZANTIUM", "0"),
    ("HIVE_FORK_CONSTANTINOPLE", "0"),
    ("HIVE_FORK_PETERSBURG", "0"),
];

#[test]
#[ignore = "needs jq: run scripts/test"]
fn accepts_hive_smoke_clique_genesis_through_the_mapper() {
    let g = mapped("smoke-clique-genesis.json", SMOKE_CLIQUE);
    assert_eq!(g["chain_id"], 1334);
    assert_eq!(g["engine"]["name"], "clique");
    assert_eq!(g["engine"]["period"], 2);
    let forks: Vec<&str> = g["forks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fork"].as_str().unwrap())
        .collect();
    assert!(forks.contains(&"petersburgBlock"), "{forks:?}");
    assert!(!forks.contains(&"londonBlock"), "{forks:?}");
}

#[test]
#[ignore = "needs jq: run scripts/test"]
fn accepts_hive_devp2p_and_default_genesis_as_ethash() {
    // ethereum/hive simulators/devp2p/main.go: the discv4/discv5 suites' parameters.
    let devp2p = mapped(
        "devp2p-genesis.json",
        &[
            ("HIVE_NETWORK_ID", "19763"),
            ("HIVE_CHAIN_ID", "19763"),
            ("HIVE_FORK_HOMESTEAD", "0"),
            ("HIVE_FORK_TANGERINE", "0"),
            ("HIVE_FORK_SPURIOUS", "0"),
            ("HIVE_FORK_BYZANTIUM", "0"),
        ],
    );
    assert_eq!(devp2p["chain_id"], 19763);
    assert_eq!(devp2p["engine"]["name"], "ethash");
    assert_eq!(devp2p["accounts"], 1);
    let geth_default = mapped("go-ethereum-genesis.json", &[("HIVE_FORK_LONDON", "0")]);
    assert_eq!(
        geth_default["chain_id"], 1337,
        "the mapper's default chain id"
    );
    assert!(
        geth_default["base_fee_per_gas"].is_string(),
        "London at 0 gives the genesis a base fee: {geth_default}"
    );
    let ours = Command::new("jq")
        .env_clear()
        .arg("-f")
        .arg(repo().join("hive/cachet/mapper.jq"))
        .arg(repo().join("hive/cachet/genesis.json"))
        .output()
        .unwrap();
    assert!(ours.status.success());
}

#[test]
fn context_sources_skip_other_stages() {
    let srcs = context_sources("COPY --from=b /x /y\nCOPY a.sh b.jq /dst/\nADD c /c\nRUN x");
    assert_eq!(srcs, ["a.sh", "b.jq", "c"]);
}
