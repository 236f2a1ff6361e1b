#!/usr/bin/env python3
"""Re-creates the vendored ethereum/tests BlockchainTests subset (see README.md).

Usage: vendor.py <ethereum/tests git dir> <ethereum/legacytests git dir>

Reads the two pinned commits with `git show`, keeps only the selected directories, networks and
expected exceptions, and writes each kept case unchanged (the file is re-serialised with the upstream
layout: 4-space indent, `"key" : value`). Run from anywhere; writes next to this script.
"""

import json
import os
import subprocess
import sys

TESTS_COMMIT = "faf33b471465d3c6cdc3d04fbd690895f78d33f2"  # ethereum/tests tag v13.3
LEGACY_COMMIT = "7387366b56261544e8145832033f269c707b6c51"  # ethereum/legacytests, the LegacyTests submodule of v13.3

# Networks permissioned networks run. Constantinople without the Petersburg fix (EIP-1283 active)
# only ever ran on Ropsten; Paris (the Merge) is proof of stake; Cancun is not supported by Cachet.
TESTS_NETWORKS = {"Istanbul", "Berlin", "London", "Shanghai"}
# Fork activations a permissioned network schedules by block number on a running chain.
TRANSITION_NETWORKS = {"BerlinToLondonAt5", "ByzantiumToConstantinopleFixAt5", "EIP158ToByzantiumAt5"}
TRANSITION = ["bcBerlinToLondon", "bcByzantiumToConstantinopleFix", "bcEIP158ToByzantium"]
LEGACY_NETWORKS = {"Byzantium", "ConstantinopleFix"}

VALID = [
    "bcStateTests",
    "bcValidBlockTest",
    "bcUncleTest",
    "bcUncleSpecialTests",
    "bcGasPricerTest",
    "bcEIP1559",
    "bcExample",
    "bcMultiChainTest",
    "bcForkStressTest",
    "bcBlockGasLimitTest",
    "bcWalletTest",
    "bcTotalDifficultyTest",
]
INVALID = [
    "bcStateTests",
    "bcEIP1559",
    "bcBlockGasLimitTest",
    "bcMultiChainTest",
    "bcInvalidHeaderTest",
    "bc4895-withdrawals",
]

# The large directories repeat the same blocks on every fork; they keep one fork of each file set
# (the size budget is 20 MB). Everything else keeps every selected network.
ONLY_NETWORKS = {
    "bcForkStressTest": {"London", "Byzantium"},
    "bcEIP1559": {"London"},
    "bcTotalDifficultyTest": {"London", "ConstantinopleFix"},
    "bcGasPricerTest": {"London", "Shanghai", "Byzantium"},
    "bcWalletTest": {"London", "Shanghai"},
}

# Refusals by the rules Cachet checks for every engine: block structure, state, receipts, gas,
# transactions, withdrawals, generic header fields. A case whose any block expects another exception
# (ethash difficulty, mix hash / nonce, uncle validity) is left out: proof of work is skipped and
# permissioned networks have no uncles.
ALLOWED_EXCEPTIONS = {
    "InvalidStateRoot",
    "InvalidReceiptsStateRoot",
    "InvalidGasUsed",
    "InvalidLogBloom",
    "InvalidTransactionsRoot",
    "InvalidGasLimit",
    "InvalidGasLimit2",
    "TooMuchGasUsed",
    "BlockGasLimitReached",
    "InvalidNumber",
    "InvalidTimestampOlderParent",
    "InvalidTimestamp",
    "ExtraDataTooBig",
    "UnknownParent",
    "UnknownParent2",
    "InvalidWithdrawals",
    "1559BlockImportImpossible_BaseFeeWrong",
    "INPUT_UNMARSHAL_ERROR",
    "INPUT_UNMARSHAL_ADDRESS_ERROR",
    "RLP_ExpectedAsList",
    "InvalidUnclesHash",
    "1559BlockImportImpossible_HeaderIsLegacy",
    "LegacyBlockImportImpossible",
    "LegacyBlockImportImpossible2",
}


def allowed_exception(name):
    return name in ALLOWED_EXCEPTIONS or name.startswith("TR_")


def git_show(repo, commit, path):
    out = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"], capture_output=True)
    if out.returncode != 0:
        return None
    return out.stdout


def git_ls(repo, commit, path):
    out = subprocess.check_output(["git", "-C", repo, "ls-tree", "-r", "--name-only", commit, path])
    return [p for p in out.decode().split() if p.endswith(".json")]


def expected_exceptions(case):
    for block in case["blocks"]:
        for key, value in block.items():
            if key.startswith("expectException"):
                yield value


def vendor(repo, commit, root, networks, out_prefix, report, kinds):
    kept = 0
    for kind, dirs in kinds:
        for d in dirs:
            for path in git_ls(repo, commit, f"{root}/{kind}/{d}"):
                raw = git_show(repo, commit, path)
                if raw is None:
                    report.append(f"absent from the mirror (stored as a large object): {path}")
                    continue
                cases = json.loads(raw)
                out = {}
                for name, case in cases.items():
                    if case.get("network") not in networks & ONLY_NETWORKS.get(d, networks):
                        continue
                    bad = [e for e in expected_exceptions(case) if not allowed_exception(e)]
                    if bad:
                        report.append(f"left out {path} {name}: expects {sorted(set(bad))}")
                        continue
                    out[name] = case
                if not out:
                    continue
                dest = os.path.join(os.path.dirname(os.path.abspath(__file__)), out_prefix, path)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                with open(dest, "w") as f:
                    json.dump(out, f, indent=4, separators=(",", " : "))
                    f.write("\n")
                kept += len(out)
    return kept


def main():
    tests, legacy = sys.argv[1], sys.argv[2]
    report = []
    kinds = (("ValidBlocks", VALID), ("InvalidBlocks", INVALID))
    n = vendor(tests, TESTS_COMMIT, "BlockchainTests", TESTS_NETWORKS, "", report, kinds)
    n += vendor(tests, TESTS_COMMIT, "BlockchainTests", TRANSITION_NETWORKS, "", report,
                (("TransitionTests", TRANSITION),))
    n += vendor(legacy, LEGACY_COMMIT, "Constantinople/BlockchainTests", LEGACY_NETWORKS,
                "LegacyTests", report, kinds)
    for line in report:
        print(line)
    print(f"kept {n} cases")


if __name__ == "__main__":
    main()
