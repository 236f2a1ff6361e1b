"""Replays a clique chain's transactions with py-evm and prints the state root, receipts root and
gas used after each block as JSON: [{"number", "signer", "stateRoot", "receiptsRoot", "gasUsed",
"statuses"}].

Input: a directory written by tests/peers/build-tx-chain.mjs (genesis.json, expected.json; from
expected.json only the genesis header and each block's header RLP and raw transactions are read,
and no root in them is used). The genesis `alloc` is loaded into py-evm's AccountDB; each block
runs on the previous block's post-state with py-evm's VM for its fork (Berlin before
`londonBlock`, London from it); BLOCKHASH reads the headers replayed so far. The block
author is the clique signer recovered from the header's seal by py-evm's clique code
(`get_block_signer`), as geth's clique `Author`: it receives the fees and is what COINBASE returns.
Clique has no block reward, so none is paid. Senders are recovered by py-evm from the signatures.
Usage: python replay_state_roots.py DIR
"""
import json
import os
import sys

import rlp
from eth.consensus.clique._utils import get_block_signer
from eth.consensus.context import ConsensusContext
from eth.db.atomic import AtomicDB
from eth.db.account import AccountDB
from eth.db.chain import ChainDB
from eth.db.trie import make_trie_root_and_nodes
from eth.rlp.headers import BlockHeader
from eth.vm.chain_context import ChainContext
from eth.vm.forks.berlin import BerlinVM
from eth.vm.forks.london import LondonVM
from eth.vm.forks.london.blocks import LondonBlockHeader


def quantity(v):
    if isinstance(v, int):
        return v
    if v.startswith(("0x", "0X")):
        return int(v[2:] or "0", 16)
    return int(v or "0", 10)


def raw_bytes(v):
    v = v[2:] if v.startswith(("0x", "0X")) else v
    return bytes.fromhex(v)


def load_genesis(db, genesis):
    accounts = AccountDB(db)
    for key, account in genesis.get("alloc", {}).items():
        address = raw_bytes(key)
        accounts.set_balance(address, quantity(account["balance"]))
        accounts.set_nonce(address, quantity(account.get("nonce", 0)))
        if account.get("code"):
            accounts.set_code(address, raw_bytes(account["code"]))
        for slot, value in account.get("storage", {}).items():
            accounts.set_storage(address, quantity(slot), quantity(value))
    accounts.persist()
    return accounts.state_root


def replay(directory):
    with open(os.path.join(directory, "genesis.json")) as f:
        genesis = json.load(f)
    with open(os.path.join(directory, "expected.json")) as f:
        chain = json.load(f)
    config = genesis["config"]
    london = config.get("londonBlock")
    chain_id = config["chainId"]
    db = AtomicDB()
    root = load_genesis(db, genesis)
    # Headers go into py-evm's chain database as they are replayed: BLOCKHASH reads them.
    chaindb = ChainDB(db)
    genesis_class = LondonBlockHeader if london == 0 else BlockHeader
    chaindb.persist_header(rlp.decode(raw_bytes(chain["genesisHeader"]), sedes=genesis_class))
    out = [{"number": 0, "stateRoot": "0x" + root.hex()}]
    for block in chain["blocks"]:
        number = block["number"]
        vm_class = LondonVM if london is not None and number >= london else BerlinVM
        header_class = LondonBlockHeader if vm_class is LondonVM else BlockHeader
        header = rlp.decode(raw_bytes(block["header"]), sedes=header_class)
        signer = get_block_signer(header)
        # Execute on the parent's post-state; the author is the seal's signer.
        exec_header = header.copy(state_root=root, coinbase=signer, gas_used=0)
        vm = vm_class(
            header=exec_header,
            chaindb=chaindb,
            chain_context=ChainContext(chain_id),
            consensus_context=ConsensusContext(db),
        )
        builder = vm_class.get_transaction_builder()
        txs = [builder.decode(raw_bytes(raw)) for raw in block["txs"]]
        result, receipts, _ = vm.apply_all_transactions(txs, exec_header)
        vm.state.persist()
        root = vm.state.state_root
        receipts_root, _ = make_trie_root_and_nodes(receipts)
        chaindb.persist_header(header)
        out.append(
            {
                "number": number,
                "signer": "0x" + signer.hex(),
                "stateRoot": "0x" + root.hex(),
                "receiptsRoot": "0x" + receipts_root.hex(),
                "gasUsed": result.gas_used,
                "statuses": [1 if r.state_root == b"\x01" else 0 for r in receipts],
            }
        )
    return out


print(json.dumps(replay(sys.argv[1])))
