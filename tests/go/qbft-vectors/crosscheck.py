"""Re-derives testdata/bft/*-messages.json with a second, independent stack (PyPI rlp, eth-hash,
coincurve) from the rules written in docs/dev/bft-wire.md, not from GoQuorum's code:

- QBFT: signed payload = keccak(rlp([code, payload])), signature r||s||v (v 0/1); the message
  layouts; the commit seal over keccak(rlp(header with extra [vanity, vals, vote, round, []]));
  the block hash with round 0; RFC 6979 signatures re-made byte for byte from the node key.
- IBFT: signature over keccak(rlp([code, msg, address, 0x80, committedSeal])); the committed seal
  over keccak(hash || 0x02); the proposer seal over keccak(keccak(rlp(header with seal/seals empty))).

Run: /work/main/.venv-test/bin/python tests/go/qbft-vectors/crosscheck.py testdata/bft
Exits non-zero on the first mismatch.
"""

import json
import sys

import coincurve
import rlp
from eth_hash.auto import keccak

QBFT_CODES = {0x12: "PRE-PREPARE", 0x13: "PREPARE", 0x14: "COMMIT", 0x15: "ROUND-CHANGE"}


def b(h):
    return bytes.fromhex(h[2:] if h.startswith("0x") else h)


def addr_of(pub: coincurve.PublicKey) -> bytes:
    return keccak(pub.format(compressed=False)[1:])[12:]


def recover(digest: bytes, sig: bytes) -> bytes:
    return addr_of(coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None))


def sign(key_hex: str, digest: bytes) -> bytes:
    return coincurve.PrivateKey(b(key_hex)).sign_recoverable(digest, hasher=None)


def check(cond, what):
    if not cond:
        raise SystemExit(f"MISMATCH: {what}")


def uint(x: bytes) -> int:
    check(x == b"" or x[0] != 0, "non-canonical integer")
    return int.from_bytes(x, "big")


def header_with_extra(header_fields, extra):
    h = list(header_fields)
    h[12] = extra
    return rlp.encode(h)


def qbft_extra_with(extra: bytes, round_: int) -> bytes:
    vanity, vals, vote, _round, _seals = rlp.decode(extra)
    return rlp.encode([vanity, vals, vote, round_, []])


def check_signed(v, payload_items, code, sig):
    """QBFT: the signature covers keccak(rlp([code, payload]))."""
    pre = rlp.encode([code, payload_items])
    if "signing_preimage" in v:
        check("0x" + pre.hex() == v["signing_preimage"], f"{v['name']}: signing preimage")
    digest = keccak(pre)
    check(recover(digest, sig) == b(v["signer"]), f"{v['name']}: recovered signer")
    if "signer_nodekey" in v:  # the real GoQuorum log vector has no key
        check(sign(v["signer_nodekey"], digest) == sig, f"{v['name']}: RFC 6979 re-signature")


def header_fields(h):
    ints = ("difficulty", "number", "gasLimit", "gasUsed", "timestamp")
    order = ("parentHash", "sha3Uncles", "miner", "stateRoot", "transactionsRoot", "receiptsRoot",
             "logsBloom", "difficulty", "number", "gasLimit", "gasUsed", "timestamp", "extraData",
             "mixHash", "nonce")
    return [int(h[k], 16) if k in ints else b(h[k]) for k in order]


def check_digest(v):
    """The proposal digest with the block's own round (Besu) and with round 0 (GoQuorum)."""
    hdr = header_fields(v["proposal_header"])
    _, _, _, rnd, _ = rlp.decode(hdr[12])
    besu = keccak(header_with_extra(hdr, qbft_extra_with(hdr[12], uint(rnd))))
    goq = keccak(header_with_extra(hdr, qbft_extra_with(hdr[12], 0)))
    check("0x" + besu.hex() == v["besu_digest"], "besu digest")
    check("0x" + goq.hex() == v["goquorum_digest"], "goquorum digest")
    check(besu != goq, "the two digests differ when the extra round is not 0")


def check_committed_block(v, blocks):
    """A committed QBFT block: >= ceil(2N/3) seals from distinct validators over the commit digest
    (round as in extraData), and its round-0 hash is the digest its PREPAREs carried."""
    header = rlp.decode(b(v["block_rlp"]))[0]
    vanity, vals, vote, rnd, seals = rlp.decode(header[12])
    check([b(a) for a in v["validators"]] == vals, "validators")
    cd = keccak(header_with_extra(header, rlp.encode([vanity, vals, vote, rnd, []])))
    signers = {recover(cd, s) for s in seals}
    check(len(signers) == len(seals) and signers <= set(vals), f"{v['name']}: seals from distinct validators")
    check(len(signers) * 3 >= 2 * len(vals), f"{v['name']}: quorum of seals")
    h = keccak(header_with_extra(header, qbft_extra_with(header[12], 0)))
    if "block_hash" in v:
        check("0x" + h.hex() == v["block_hash"], f"{v['name']}: QBFT block hash (round 0, no seals)")
    blocks[h] = header


def check_committed_ibft_block(v):
    """A committed GoQuorum IBFT block: proposer seal over keccak(keccak(rlp(header[seal, seals
    emptied]))), hash over header[seals emptied], committed seals over keccak(hash || 0x02)."""
    header = rlp.decode(b(v["block_rlp"]))[0]
    extra = header[12]
    vals, seal, seals = rlp.decode(extra[32:])
    check([b(a) for a in v["validators"]] == vals, "validators")
    sighash = keccak(header_with_extra(header, extra[:32] + rlp.encode([vals, b"", []])))
    check(recover(keccak(sighash), seal) in vals, f"{v['name']}: proposer seal")
    h = keccak(header_with_extra(header, extra[:32] + rlp.encode([vals, seal, []])))
    check("0x" + h.hex() == v["block_hash"], f"{v['name']}: IBFT block hash")
    signers = {recover(keccak(h + b"\x02"), s) for s in seals}
    check(len(signers) == len(seals) and signers <= set(vals), f"{v['name']}: committed seals")
    check(len(signers) * 3 >= 2 * len(vals), f"{v['name']}: quorum of seals")


def check_qbft(v, blocks):
    if v.get("kind") == "digest":
        return check_digest(v)
    if v.get("kind") == "committed_block":
        return check_committed_block(v, blocks)
    if v.get("kind") == "committed_block_ibft":
        return check_committed_ibft_block(v)
    code = v["p2p_msg_code"]
    check(code in QBFT_CODES, "code")
    msg = rlp.decode(b(v["p2p_payload"]))
    if code == 0x13:  # PREPARE: [[seq, round, digest], sig]
        (payload, sig) = msg
        seq, rnd, digest = payload
        check(len(digest) == 32, "digest length")
        check_signed(v, payload, code, sig)
        check((uint(seq), uint(rnd)) == (v["sequence"], v["round"]), "view")
    elif code == 0x14:  # COMMIT: [[seq, round, digest, seal], sig]
        (payload, sig) = msg
        seq, rnd, digest, seal = payload
        check_signed(v, payload, code, sig)
        block = blocks[digest]
        cd = keccak(header_with_extra(block, qbft_extra_with(block[12], uint(rnd))))
        if "commit_seal_digest" in v:
            check("0x" + cd.hex() == v["commit_seal_digest"], f"{v['name']}: commit seal digest")
        check(recover(cd, seal) == b(v["signer"]), f"{v['name']}: commit seal signer")
    elif code == 0x15:  # ROUND-CHANGE: [[[seq, round, [pr, pv] | []], sig], block | [], prepares | []]
        if len(msg) == 4:  # Besu >= 26.1.0: [signed, block | [], BAL | 0x80, prepares]
            check(msg[2] == b"", "BAL slot empty")
            msg = [msg[0], msg[1], msg[3]]
            check(v["goquorum_decode"].startswith("rejected"), "GoQuorum rejects the 4-item shape")
        signed, pblock, prepares = msg
        payload, sig = signed
        seq, rnd, prepared = payload
        check_signed(v, payload, code, sig)
        if prepared:
            pr, pv = prepared
            check(keccak(header_with_extra(pblock[0], qbft_extra_with(pblock[0][12], 0))) == pv, "prepared block hash")
            check(len(prepares) >= 3, "prepares")
            for p in prepares:
                pp, psig = p
                check(pp[2] == pv and uint(pp[1]) == uint(pr), "justification prepare matches")
                recover(keccak(rlp.encode([0x13, pp])), psig)
        else:
            check(pblock == [] and prepares == [], f"{v['name']}: unprepared RC carries 0xc0 0xc0")
    elif code == 0x12:  # PRE-PREPARE: [[[seq, round, block], sig], [[rc signed payloads], [prepares]]]
        signed, justification = msg
        payload, sig = signed
        check_signed(v, payload, code, sig)
        if len(payload) == 4:  # Besu >= 26.1.0: [seq, round, block, BAL | 0x80]
            check(payload[3] == b"", "BAL slot empty")
            check(v["goquorum_decode"].startswith("rejected"), "GoQuorum rejects the 4-item shape")
            payload = payload[:3]
        seq, rnd, block = payload
        h = keccak(header_with_extra(block[0], qbft_extra_with(block[0][12], 0)))
        check("0x" + h.hex() == v["proposal_hash"], f"{v['name']}: proposal hash (round 0, seals emptied)")
        blocks[h] = block[0]
        rcs, prepares = justification
        if not prepares:  # a re-proposed prepared block keeps its first proposer's coinbase
            check(block[0][2] == b(v["signer"]), f"{v['name']}: proposer is the block's coinbase")
        for rcp in rcs:
            (p, s) = rcp
            recover(keccak(rlp.encode([0x15, p])), s)
        if uint(rnd) == 0:
            check(rcs == [] and prepares == [], "round 0 has no justification")
    return v


def check_ibft(v, blocks):
    check(v["p2p_msg_code"] == 0x11, "istanbulMsg")
    inner = rlp.decode(b(v["p2p_payload"]))  # the p2p payload is an RLP string holding the message
    check(inner == b(v["message_rlp"]), "p2p payload wraps the message as an RLP string")
    code, msg, address, sig, cseal = rlp.decode(inner)
    check(address == b(v["signer"]), "address field")
    nosig = rlp.encode([code, msg, address, b"", cseal])
    check("0x" + nosig.hex() == v["signing_preimage_payload_no_sig"], f"{v['name']}: payload without signature")
    d = keccak(nosig)
    check(recover(d, sig) == address, f"{v['name']}: signer")
    check(sign(v["signer_nodekey"], d) == sig, f"{v['name']}: RFC 6979 re-signature")
    body = rlp.decode(msg)
    if uint(code) == 0:
        (view, block) = body
        hdr = block[0]
        extra = hdr[12]
        vals, seal, _seals = rlp.decode(extra[32:])
        sighash = keccak(header_with_extra(hdr, extra[:32] + rlp.encode([vals, b"", []])))
        check(recover(keccak(sighash), seal) == address, f"{v['name']}: proposer seal (double keccak)")
        h = keccak(header_with_extra(hdr, extra[:32] + rlp.encode([vals, seal, []])))
        check("0x" + h.hex() == v["proposal_hash"], f"{v['name']}: IBFT block hash")
        blocks["ibft"] = h
    elif uint(code) == 2:
        view, digest = body
        check(digest == blocks["ibft"], "commit digest")
        pre = digest + b"\x02"
        check(recover(keccak(pre), cseal) == address, f"{v['name']}: committed seal")
    elif uint(code) == 3:
        view, digest = body
        check(digest == b"\x00" * 32, "round change digest is zero")
    return v


def checksum(a: bytes) -> str:
    h = a.hex()
    k = keccak(h.encode()).hex()
    return "0x" + "".join(c.upper() if int(k[i], 16) >= 8 else c for i, c in enumerate(h))


def check_proposers(t):
    """validator/default.go: seed = round (no last proposer), else index(last) + round (+1 round-robin);
    a last proposer outside the set counts as index 0."""
    order = [b(a) for a in t["validators_order"]]
    key = (lambda a: a) if t["sort"] == "byte" else (lambda a: checksum(a))
    check(order == sorted(order, key=key), f"{t['name']}: order")
    n = len(order)
    for row in t["rows"]:
        last = b(row["last_proposer"])
        for r, got in enumerate(row["proposer_by_round_0_to_5"]):
            if last == bytes(20):
                seed = r
            else:
                idx = order.index(last) if last in order else 0
                seed = idx + r + (1 if t["policy"] == "round-robin" else 0)
            check(order[seed % n] == b(got), f"{t['name']}: proposer")


def main(d):
    blocks = {}
    for fname, fn in (
        ("qbft-messages.json", check_qbft),
        ("qbft-goquorum-devnet.json", check_qbft),
        ("ibft-to-qbft-goquorum-devnet.json", check_qbft),
        ("ibft-messages.json", check_ibft),
    ):
        path = f"{d}/{fname}"
        vs = json.load(open(path))
        for v in vs:
            fn(v, blocks)
        print(f"{fname}: {len(vs)} vectors re-derived")
    ts = json.load(open(f"{d}/proposer-selection.json"))
    for t in ts:
        check_proposers(t)
    print(f"proposer-selection.json: {len(ts)} tables re-derived")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/bft")
