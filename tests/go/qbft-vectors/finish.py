"""Turns main.go's output into testdata/bft/: adds the verified_with field and the one vector not
produced here (a PREPARE from a production GoQuorum log). Run crosscheck.py afterwards.

Usage: python3 tests/go/qbft-vectors/finish.py OUT_DIR testdata/bft
"""

import json
import sys

VERIFIED = (
    "tests/go/qbft-vectors/crosscheck.py (PyPI rlp + eth-hash + coincurve, written from "
    "docs/dev/bft-wire.md): layout decoded, signing preimage rebuilt, signer recovered, RFC 6979 "
    "signature re-made byte for byte, digests/seals recomputed"
)
VERIFIED_PROPOSERS = (
    "tests/go/qbft-vectors/crosscheck.py (check_proposers: seed rule of validator/default.go, "
    "EIP-55 string order)"
)
REAL_LOG = {
    "name": "qbft-prepare-real-goquorum-log",
    "what": "a PREPARE a production GoQuorum validator logged ('QBFT: broadcast PREPARE message ... payload=0x\u2026'), with the signer, round and sequence stated in the same log line",
    "source": "GitHub issue Consensys/quorum#1681 ('The Round Change continues indefinitely, BUT no new block is being generated', log of goquorum-node-validator-4, 10-05 02:11:02.134): msg.source=0xc62ecB2C35a25DD71Bd1C92a6cbcCECc5698B2A7 msg.round=15 msg.sequence=51045",
    "stated_in_source": [
        "p2p_payload",
        "signer",
        "sequence",
        "round"
    ],
    "p2p_protocol": "istanbul/100",
    "p2p_msg_code": 19,
    "p2p_payload": "0xf869e582c7650fa0ac484576229acf53e4a75469c66cd5f23734077289f2ce37b722cda416caf1f3b841e7e7d0a60c1d24bc16c683b2675e7ebe13120f6d4248cec7c8f6525f6949883014cf8e89ff6d0c1904bda791f4dfef4657a43f011f5e67381d9b6e30416a04b401",
    "signer": "0xc62ecB2C35a25DD71Bd1C92a6cbcCECc5698B2A7",
    "sequence": 51045,
    "round": 15,
    "digest": "0xac484576229acf53e4a75469c66cd5f23734077289f2ce37b722cda416caf1f3",
    "signing_preimage": "0xe713e582c7650fa0ac484576229acf53e4a75469c66cd5f23734077289f2ce37b722cda416caf1f3",
    "note": "no node key: check decoding and that keccak(rlp([0x13, [0xc765, 0x0f, digest]])) recovers the stated signer (it does: checked with coincurve)",
    "verified_with": "coincurve recovery of keccak(rlp([19, payload])) gives 0xc62ecb2c35a25dd71bd1c92a6cbccecc5698b2a7",
    "signing_digest": "0xbb59566ffa13e5d37d099c8a1a375ef8756b16e33f263bcb147914d639b941cd",
    "signature": "0xe7e7d0a60c1d24bc16c683b2675e7ebe13120f6d4248cec7c8f6525f6949883014cf8e89ff6d0c1904bda791f4dfef4657a43f011f5e67381d9b6e30416a04b401"
}


def main(src, dst):
    for name in ("qbft-messages", "ibft-messages", "proposer-selection"):
        cases = json.load(open(f"{src}/{name}.json"))
        for case in cases:
            case["verified_with"] = VERIFIED_PROPOSERS if name == "proposer-selection" else VERIFIED
        if name == "qbft-messages":
            cases.append(REAL_LOG)
        with open(f"{dst}/{name}.json", "w") as f:
            json.dump(cases, f, indent=1)
            f.write("\n")
        print(f"{dst}/{name}.json: {len(cases)} cases")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
