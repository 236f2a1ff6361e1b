"""Independent IBFT / IBFT 2.0 / QBFT / Raft seal checks with PyPI rlp, eth-hash and eth-keys.

Follows ../shared/specs/seal-formats.md (sections 2.1 IBFT, 2.2 IBFT 2.0, 2.3 QBFT, 3 Raft)
without any Cachet code: each raw header is decoded, its extraData split, the signed digests
rebuilt and the signers recovered.

Usage:
  engine_seals.py ENGINE HEX...   ENGINE in ibft, ibft2, qbft, raft; HEX = header RLP
Prints a JSON list, one object per header:
  {"number", "parent", "hash", "proposer", "committers": [...], "validators": [...],
   "raft_id", "timestamp", "difficulty", "mix", "nonce"}
(addresses lowercase 0x-hex; fields that do not apply are null).
"""

import json
import sys

import rlp
from eth_hash.auto import keccak
from eth_keys import keys

EXTRA = 12  # index of extraData in the header list


def hexs(b):
    return "0x" + bytes(b).hex()


def recover(digest, sig):
    """Address that made the 65-byte r||s||v (v in {0,1}) signature over digest."""
    assert len(sig) == 65 and sig[64] in (0, 1), "seal must be 65 bytes with v 0/1"
    s = keys.Signature(signature_bytes=bytes(sig))
    return s.recover_public_key_from_msg_hash(digest).to_canonical_address()


def with_extra(fields, extra):
    f = list(fields)
    f[EXTRA] = extra
    return rlp.encode(f)


def ibft(fields):
    extra = fields[EXTRA]
    vanity, rest = extra[:32], extra[32:]
    vals, seal, committed = rlp.decode(rest)
    sig_hash = keccak(with_extra(fields, vanity + rlp.encode([vals, b"", []])))
    proposer = recover(keccak(sig_hash), seal)  # double hash (Backend.Sign keccaks)
    block_hash = keccak(with_extra(fields, vanity + rlp.encode([vals, seal, []])))
    commit_digest = keccak(block_hash + b"\x02")
    committers = [recover(commit_digest, s) for s in committed]
    return block_hash, proposer, committers, vals


def ibft2(fields):
    vanity, vals, vote, rnd, seals = rlp.decode(fields[EXTRA])
    assert len(rnd) == 4, "ibft2 round is 4 bytes"
    commit_digest = keccak(with_extra(fields, rlp.encode([vanity, vals, vote, rnd])))
    block_hash = keccak(with_extra(fields, rlp.encode([vanity, vals, vote])))
    committers = [recover(commit_digest, s) for s in seals]
    return block_hash, fields[2], committers, vals


def qbft(fields):
    vanity, vals, vote, rnd, seals = rlp.decode(fields[EXTRA])
    commit_digest = keccak(with_extra(fields, rlp.encode([vanity, vals, vote, rnd, []])))
    block_hash = keccak(with_extra(fields, rlp.encode([vanity, vals, vote, b"", []])))
    committers = [recover(commit_digest, s) for s in seals]
    return block_hash, fields[2], committers, vals


def raft(fields):
    extra = fields[EXTRA]
    assert extra[:32] == b"\x00" * 32, "raft vanity is blank"
    raft_id, sig = rlp.decode(extra[32:])
    f = list(fields)
    for i in (1, 4, 5):  # sha3Uncles, transactionsRoot, receiptsRoot
        f[i] = b"\x00" * 32
    f[6] = b"\x00" * 256  # logsBloom
    f[EXTRA] = b""
    minter = recover(keccak(rlp.encode(f)), sig)
    return keccak(rlp.encode(fields)), minter, [], None, int(raft_id.decode("ascii"), 16)


def main():
    engine, headers = sys.argv[1], sys.argv[2:]
    out = []
    for h in headers:
        raw = bytes.fromhex(h[2:] if h.startswith("0x") else h)
        fields = rlp.decode(raw)
        raft_id = None
        if engine == "raft":
            block_hash, proposer, committers, vals, raft_id = raft(fields)
        else:
            block_hash, proposer, committers, vals = {"ibft": ibft, "ibft2": ibft2, "qbft": qbft}[
                engine
            ](fields)
        out.append(
            {
                "number": int.from_bytes(fields[8], "big"),
                "parent": hexs(fields[0]),
                "hash": hexs(block_hash),
                "proposer": hexs(proposer),
                "committers": [hexs(c) for c in committers],
                "validators": None if vals is None else [hexs(v) for v in vals],
                "raft_id": raft_id,
                "timestamp": int.from_bytes(fields[11], "big"),
                "difficulty": int.from_bytes(fields[7], "big"),
                "mix": hexs(fields[13]),
                "nonce": hexs(fields[14]),
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
