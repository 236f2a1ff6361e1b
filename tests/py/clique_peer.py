"""Independent clique and RLP checks with py-evm, eth-keys and PyPI rlp (Cachet's seal tests).

Usage:
  clique_peer.py recover HEX...        -> ["0x<signer>", ...] via py-evm get_block_signer
  clique_peer.py seal N SEED           -> [{"rlp", "signer", "london"}, ...]: N random headers
                                          sealed by py-evm sign_block_header with a throwaway key
  clique_peer.py rlp-structure HEX...  -> each input decoded by PyPI rlp as nested hex lists
Prints JSON on stdout.
"""

import json
import random
import sys

import rlp
from eth.consensus.clique._utils import get_block_signer, sign_block_header
from eth.rlp.headers import BlockHeader
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague.blocks import PragueBackwardsHeader
from eth_keys import keys


def hexs(b):
    return "0x" + b.hex()


def structure(item):
    if isinstance(item, (bytes, bytearray)):
        return hexs(bytes(item))
    return [structure(i) for i in item]


def recover(args):
    out = []
    for h in args:
        header = rlp.decode(bytes.fromhex(h.removeprefix("0x")), sedes=PragueBackwardsHeader)
        out.append(hexs(get_block_signer(header)))
    return out


def seal(n, seed):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        key = keys.PrivateKey(rnd.randbytes(31) + b"\x01")
        london = i % 2 == 1
        fields = dict(
            parent_hash=rnd.randbytes(32),
            uncles_hash=bytes.fromhex("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
            coinbase=rnd.choice([b"\0" * 20, rnd.randbytes(20)]),
            state_root=rnd.randbytes(32),
            transaction_root=rnd.randbytes(32),
            receipt_root=rnd.randbytes(32),
            bloom=rnd.getrandbits(2048),
            difficulty=rnd.choice([1, 2]),
            block_number=rnd.randrange(1, 2**40),
            gas_limit=rnd.randrange(5000, 2**40),
            gas_used=0,
            timestamp=rnd.randrange(0, 2**40),
            extra_data=rnd.randbytes(32) + b"\0" * 65,
            mix_hash=b"\0" * 32,
            nonce=rnd.choice([b"\0" * 8, b"\xff" * 8]),
        )
        if london:
            header = LondonBlockHeader(base_fee_per_gas=rnd.randrange(0, 2**64), **fields)
        else:
            header = BlockHeader(**fields)
        sealed = sign_block_header(header, key)
        out.append({"rlp": hexs(rlp.encode(sealed)), "signer": hexs(key.public_key.to_canonical_address()), "london": london})
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "recover":
        result = recover(args)
    elif cmd == "seal":
        result = seal(int(args[0]), int(args[1]))
    elif cmd == "rlp-structure":
        result = [structure(rlp.decode(bytes.fromhex(a.removeprefix("0x")))) for a in args]
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
