"""Computes the state root of geth-format genesis files' `alloc` with py-evm's AccountDB and
prints JSON: [{"file": ..., "stateRoot": "0x..."}].

py-evm stores accounts and storage as the Yellow Paper does: a zero storage value deletes the
slot. Quantities are read as geth reads them (hex with 0x, or decimal); storage keys and values
are numbers, so short hex strings are left-padded. Usage: python genesis_state_root.py FILE...
"""
import json
import os
import sys

from eth.db.account import AccountDB
from eth.db.atomic import AtomicDB


def quantity(v):
    if isinstance(v, int):
        return v
    if v.startswith(("0x", "0X")):
        return int(v[2:] or "0", 16)
    return int(v or "0", 10)


def raw_bytes(v):
    v = v[2:] if v.startswith(("0x", "0X")) else v
    return bytes.fromhex(v)


def state_root(genesis):
    db = AccountDB(AtomicDB())
    for key, account in genesis.get("alloc", {}).items():
        address = raw_bytes(key)
        db.set_balance(address, quantity(account["balance"]))
        db.set_nonce(address, quantity(account.get("nonce", 0)))
        if account.get("code"):
            db.set_code(address, raw_bytes(account["code"]))
        for slot, value in account.get("storage", {}).items():
            db.set_storage(address, int(slot, 16), int(value, 16))
    db.persist()
    return "0x" + db.state_root.hex()


out = []
for path in sys.argv[1:]:
    with open(path) as f:
        out.append({"file": os.path.basename(path), "stateRoot": state_root(json.load(f))})
print(json.dumps(out))
