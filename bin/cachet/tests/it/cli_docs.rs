//! `docs/cli/` is generated from `--help`; this test fails when the two drift.
//! Regenerate with `scripts/update-cli-docs` (sets `UPDATE_CLI_DOCS=1`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(path)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .expect("run cachet --help");
    assert!(out.status.success(), "cachet {path:?} --help failed");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// Subcommand names listed under "Commands:" (clap's layout: two spaces, name, spaces, text).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

fn collect(path: Vec<String>, out: &mut BTreeMap<String, String>) {
    let text = help(&path);
    for sub in subcommands(&text) {
        let mut child = path.clone();
        child.push(sub);
        collect(child, out);
    }
    let name = std::iter::once("cachet".to_owned()).chain(path).collect::<Vec<_>>().join("-");
    out.insert(format!("{name}.txt"), text);
}

#[test]
fn cli_reference_matches_help_output() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli");
    let mut pages = BTreeMap::new();
    collect(Vec::new(), &mut pages);
    assert!(pages.len() > 5, "walked only {} pages", pages.len());
    if std::env::var_os("UPDATE_CLI_DOCS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in &pages {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/update-cli-docs", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let expected: Vec<String> = pages.keys().cloned().collect();
    assert_eq!(on_disk, expected, "docs/cli pages differ from the commands: run scripts/update-cli-docs");
    for (name, text) in &pages {
        let stored = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(&stored, text, "docs/cli/{name} is stale: run scripts/update-cli-docs");
    }
}
