"""Cachet's local hive runner: starts hive/cachet/cachet.sh as hive's container would (same
HIVE_* variables and files, under a temporary root instead of /) and makes the checks hive's
suites make, plus Cachet's own. Run by hive/run-local (which picks the Python with the test
peers); prints one line per check and a JSON summary, exits non-zero when a check fails.

Parameters are hive's, from ethereum/hive:
  simulators/smoke/clique/clique.go  (HIVE_CLIQUE_* / HIVE_MINER / chain id 1334, its genesis.json)
  simulators/devp2p/main.go          (discv4 / discv5 suites: network id 19763, forks at 0)
  simulators/ethereum/consensus/     (BlockchainTests: main.go feeds /genesis.json + /blocks/*.rlp,
                                      forks.go maps a test's network to HIVE_FORK_*)
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import rlp
from eth_keys import keys

REPO = Path(__file__).resolve().parent.parent
CLIENT = REPO / "hive" / "cachet"
TESTDATA = REPO / "hive" / "testdata"
ETHEREUM_TESTS = REPO / "testdata" / "ethereum-tests"

CLIQUE_KEY = "9c647b8b7c4e7c3490668fb6c11473619db80c93704c70893d3813af4090c39c"
SMOKE_CLIQUE_ENV = {
    "HIVE_CLIQUE_PERIOD": "2",
    "HIVE_CLIQUE_PRIVATEKEY": CLIQUE_KEY,
    "HIVE_MINER": "658bdf435d810c91414ec09147daa6db62406379",
    "HIVE_CHAIN_ID": "1334",
    "HIVE_FORK_HOMESTEAD": "0",
    "HIVE_FORK_TANGERINE": "0",
    "HIVE_FORK_SPURIOUS": "0",
    "HIVE_FORK_BYZANTIUM": "0",
    "HIVE_FORK_CONSTANTINOPLE": "0",
    "HIVE_FORK_PETERSBURG": "0",
}
DEVP2P_ENV = {
    "HIVE_NETWORK_ID": "19763",
    "HIVE_CHAIN_ID": "19763",
    "HIVE_FORK_HOMESTEAD": "0",
    "HIVE_FORK_TANGERINE": "0",
    "HIVE_FORK_SPURIOUS": "0",
    "HIVE_FORK_BYZANTIUM": "0",
    "HIVE_LOGLEVEL": "3",
}
# hive's consensus simulator on a handful of vendored ethereum/tests BlockchainTests cases (one
# per fork; all `NoProof`, so hive sets HIVE_SKIP_POW): transfers, uncles and their rewards,
# reorgs between two chains, refunds, invalid blocks refused (base fee), withdrawals.
CONSENSUS_CASES = [
    ("LegacyTests/Constantinople/BlockchainTests/ValidBlocks/bcValidBlockTest/SimpleTx3LowS.json",
     "SimpleTx3LowS_Byzantium"),
    ("LegacyTests/Constantinople/BlockchainTests/ValidBlocks/bcUncleTest/oneUncle.json",
     "oneUncle_ConstantinopleFix"),
    ("BlockchainTests/ValidBlocks/bcMultiChainTest/ChainAtoChainBtoChainA.json",
     "ChainAtoChainBtoChainA_Istanbul"),
    ("BlockchainTests/ValidBlocks/bcStateTests/refundReset.json", "refundReset_Berlin"),
    ("BlockchainTests/InvalidBlocks/bcEIP1559/baseFee.json", "baseFee_London"),
    ("BlockchainTests/ValidBlocks/bcExample/shanghaiExample.json", "shanghaiExample_Shanghai"),
]
# forks.go (envForks): the forks up to the test's network at block 0, later ones at 2000.
HIVE_FORKS = ["HIVE_FORK_HOMESTEAD", "HIVE_FORK_TANGERINE", "HIVE_FORK_SPURIOUS",
              "HIVE_FORK_BYZANTIUM", "HIVE_FORK_CONSTANTINOPLE", "HIVE_FORK_PETERSBURG",
              "HIVE_FORK_ISTANBUL", "HIVE_FORK_BERLIN", "HIVE_FORK_LONDON"]
ACTIVE_FORKS = {"Byzantium": 4, "ConstantinopleFix": 6, "Istanbul": 7, "Berlin": 8, "London": 9,
                "Shanghai": 9}
POST_MERGE = {"HIVE_FORK_MERGE": "0", "HIVE_TERMINAL_TOTAL_DIFFICULTY": "0"}
# A throwaway node key handed over as /nodekey (a Cachet extension of hive's file set).
NODE_KEY = "c0ffee" + "11" * 29
ENODE = re.compile(r"^enode://([0-9a-f]{128})@([0-9.]+):(\d+)(\?discport=\d+)?$")

RESULTS = []


def check(name, ok, detail=""):
    RESULTS.append({"check": name, "ok": bool(ok), "detail": detail})
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Container:
    """cachet.sh under a temp root, as hive's container runs it."""

    def __init__(self, root, env, cachet):
        self.root = Path(root)
        self.http = free_port()
        self.p2p = free_port()
        self.env = dict(os.environ)
        self.env.update(env)
        self.env.update(
            {
                "HIVE_ROOT": str(self.root),
                "CACHET_BIN": str(cachet),
                "CACHET_MAPPER": str(CLIENT / "mapper.jq"),
                "CACHET_HTTP_ADDR": "127.0.0.1",
                "CACHET_HTTP_PORT": str(self.http),
                "CACHET_P2P_ADDR": "127.0.0.1",
                "CACHET_P2P_PORT": str(self.p2p),
            }
        )
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.root / f"container-{self.starts}.log", "wb")
        self.proc = subprocess.Popen(
            [str(CLIENT / "cachet.sh")],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_rpc(self, timeout=60):
        """hive's liveness check: TCP 8545 accepts. Returns False if the process exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_open(self.http):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def rpc(self, method, params=None):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http}",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = json.load(r)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def enode(self):
        out = subprocess.run(
            [str(CLIENT / "enode.sh")], env=self.env, capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def log(self):
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.root.glob("container-*.log"))
        )


def block_hashes(c, upto):
    return [c.rpc("eth_getBlockByNumber", [hex(n), False])["hash"] for n in range(1, upto + 1)]


def wait_head(c, at_least, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = int(c.rpc("eth_blockNumber"), 16)
        if head >= at_least:
            return head
        time.sleep(0.3)
    return int(c.rpc("eth_blockNumber"), 16)


def recover_signers(headers):
    """Clique signers by py-evm (tests/py/clique_peer.py), an implementation independent of ours."""
    out = subprocess.run(
        [sys.executable, str(REPO / "tests" / "py" / "clique_peer.py"), "recover", *headers],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def files_holding(root, needles):
    hits = []
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.name.startswith("container-"):
            data = path.read_bytes()
            hits += [str(path) for n in needles if n in data]
    return hits


def smoke_clique(c):
    """hive smoke/clique: block 1 within 10 s of the RPC port opening, sealed by the given key."""
    up = c.wait_rpc()
    if not check("container starts (8545 opens after unlock)", up, "" if up else c.log()[-600:]):
        return False
    start = time.monotonic()
    first = None
    while time.monotonic() - start < 10:
        number = c.rpc("eth_getBlockByNumber", ["latest", False])["number"]
        if number != "0x0":
            first = number
            break
        time.sleep(0.3)
    took = time.monotonic() - start
    check("smoke/clique: first block after genesis is 0x1, within 10 s", first == "0x1",
          f"saw {first} after {took:.2f} s")
    header = c.rpc("debug_getRawHeader", ["0x1"])
    want = keys.PrivateKey(bytes.fromhex(CLIQUE_KEY)).public_key.to_checksum_address().lower()
    got = recover_signers([header])[0]
    check("smoke/clique: py-evm recovers HIVE_CLIQUE_PRIVATEKEY's address", got == want,
          f"signer {got}, key's address {want}")
    extra = c.rpc("eth_getBlockByNumber", ["0x1", False])["extraData"]
    vanity = bytes.fromhex(extra[2:66])
    want_vanity = c.env["HIVE_MINER_EXTRA"].encode().ljust(32, b"\0")
    return check("HIVE_MINER_EXTRA is block 1's clique vanity", vanity == want_vanity, extra[:66])


def run(cachet, devp2p_tool):
    work = Path(tempfile.mkdtemp(prefix="cachet-hive-"))
    try:
        # 1. smoke/clique, with a node key handed over as a file.
        root_a = work / "a"
        root_a.mkdir()
        shutil.copy(TESTDATA / "smoke-clique-genesis.json", root_a / "genesis.json")
        (root_a / "nodekey").write_text(NODE_KEY)
        a = Container(root_a, dict(SMOKE_CLIQUE_ENV, HIVE_MINER_EXTRA="cachet hive run-local"),
                      cachet).start()
        smoke_clique(a)

        # 2. enode.sh: a valid enode whose id is the node key's public key.
        enode = a.enode()
        m = ENODE.match(enode)
        want_id = keys.PrivateKey(bytes.fromhex(NODE_KEY)).public_key.to_bytes().hex()
        check("enode.sh prints an enode whose id is the node key's", m and m.group(1) == want_id
              and int(m.group(3)) == a.p2p, enode)

        # 3. No plaintext key on disk: the node key file is shredded, neither key appears.
        needles = [bytes.fromhex(k) for k in (CLIQUE_KEY, NODE_KEY)]
        needles += [k.encode() for k in (CLIQUE_KEY, NODE_KEY, CLIQUE_KEY.upper(), NODE_KEY.upper())]
        hits = files_holding(root_a, needles)
        check("no plaintext key under the root (nodekey shredded)",
              not hits and not (root_a / "nodekey").exists(), ", ".join(hits) or "none found")

        # 4. Restart: same enode, no height sealed twice, sealing resumes.
        head = wait_head(a, 3, 20)
        before = block_hashes(a, head)
        code = a.stop()
        check("SIGTERM stops the node cleanly", code == 0, f"exit {code}")
        a.start()
        a.wait_rpc()
        same_enode = a.enode() == enode
        after = block_hashes(a, head)
        resumed = wait_head(a, head + 1, 20)
        check("restart: enode stable", same_enode, enode)
        check("restart: blocks 1..N unchanged (nothing resealed), sealing resumes",
              after == before and resumed > head, f"N={head}, head after restart {resumed}")

        # 5. Chain import: /chain.rlp and /blocks/*.rlp of Cachet-sealed blocks.
        total = wait_head(a, head + 2, 20)
        raws = [bytes.fromhex(a.rpc("debug_getRawHeader", [hex(n)])[2:]) for n in range(1, total + 1)]
        hashes = block_hashes(a, total)
        a.stop()
        blocks = [rlp.encode([rlp.decode(h, strict=False), [], []]) for h in raws]
        root_b = work / "b"
        (root_b / "blocks").mkdir(parents=True)
        shutil.copy(TESTDATA / "smoke-clique-genesis.json", root_b / "genesis.json")
        (root_b / "chain.rlp").write_bytes(b"".join(blocks[:-2]))
        for i, blk in enumerate(blocks[-2:]):
            (root_b / "blocks" / f"{i + 1}.rlp").write_bytes(blk)
        env_b = {k: v for k, v in SMOKE_CLIQUE_ENV.items() if k not in ("HIVE_MINER", "HIVE_CLIQUE_PRIVATEKEY")}
        b = Container(root_b, env_b, cachet).start()
        b.wait_rpc()
        imported = int(b.rpc("eth_blockNumber"), 16)
        check("chain import: eth_blockNumber and hashes match the imported chain",
              imported == total and block_hashes(b, total) == hashes,
              f"{total} blocks ({total - 2} in chain.rlp, 2 in blocks/), eth_blockNumber {imported}")
        b.stop()

        # 6. A revoked master key: exit 10 (key access revoked) before 8545 ever opens.
        master = root_a / "cachet-master" / "master.key"
        master.unlink()
        subprocess.run([str(cachet), "master-key", "new", f"local:{master}"], check=True,
                       capture_output=True)
        a.start()
        opened = False
        deadline = time.monotonic() + 60
        while a.proc.poll() is None and time.monotonic() < deadline:
            opened |= port_open(a.http)
            time.sleep(0.02)
        exited = a.proc.poll()
        a.stop()
        check("revoked (replaced) master key: exits 10, 8545 never opens",
              exited == 10 and not opened, f"exit {exited}, port opened: {opened}")

        # 7. Discovery, as hive's devp2p simulator runs it (its default genesis, ethash).
        for discv5 in (False, True):
            root_c = work / ("c5" if discv5 else "c4")
            root_c.mkdir()
            shutil.copy(CLIENT / "genesis.json", root_c / "genesis.json")
            env_c = dict(DEVP2P_ENV, **({"HIVE_DISCV5": "1"} if discv5 else {}))
            c = Container(root_c, env_c, cachet).start()
            up = c.wait_rpc()
            if not check(f"devp2p ({'discv5' if discv5 else 'discv4'}) genesis: node starts",
                         up, "" if up else c.log()[-600:]):
                continue
            discovery(c, devp2p_tool, discv5)
            c.stop()

        # 8. hive's ethereum/consensus simulator on vendored BlockchainTests cases.
        for rel, name in CONSENSUS_CASES:
            consensus(work, cachet, rel, name)
    finally:
        failed = [r for r in RESULTS if not r["ok"]]
        if failed:
            for log in sorted(work.glob("*/container-*.log")):
                print(f"--- {log.relative_to(work)} (last 3000 bytes)")
                print(log.read_text(errors="replace")[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"passed": len(RESULTS) - len(failed), "failed": len(failed)}))
    return 1 if failed else 0


def consensus_env(case):
    """hive's environment for a BlockchainTests case (main.go `run` and `updateEnv`)."""
    network = case["network"]
    active = ACTIVE_FORKS[network]
    env = {"HIVE_FORK_DAO_VOTE": "1", "HIVE_CHAIN_ID": "1"}
    env.update({var: "0" if i < active else "2000" for i, var in enumerate(HIVE_FORKS)})
    if network == "Shanghai":
        env.update(POST_MERGE, HIVE_SHANGHAI_TIMESTAMP="0")
    if case["sealEngine"] == "NoProof":
        env["HIVE_SKIP_POW"] = "1"
    return env


def consensus_genesis(case):
    """hive's /genesis.json for a case: main.go `toGethGenesis` marshalled by geth (the header's
    fields, `pre` as alloc, no config: the client's mapper writes it)."""
    header = case["genesisBlockHeader"]
    genesis = {key: header.get(key) for key in ("nonce", "timestamp", "extraData", "gasLimit",
                                                "difficulty", "mixHash", "coinbase",
                                                "baseFeePerGas", "excessBlobGas")}
    genesis.update({"config": None, "alloc": case["pre"], "number": "0x0", "gasUsed": "0x0",
                    "parentHash": "0x" + "00" * 32})
    return genesis


def consensus(work, cachet, rel, name):
    """One BlockchainTests case as hive's consensus simulator runs it: /genesis.json and
    /blocks/NNNN.rlp (every block, invalid ones included) into a fresh container, then block 0
    must be the test's genesis and `latest` its lastblockhash."""
    case = json.loads((ETHEREUM_TESTS / rel).read_text())[name]
    root = work / f"bt-{name}"
    (root / "blocks").mkdir(parents=True)
    (root / "genesis.json").write_text(json.dumps(consensus_genesis(case)))
    for i, block in enumerate(case["blocks"]):
        (root / "blocks" / f"{i + 1:04d}.rlp").write_bytes(bytes.fromhex(block["rlp"][2:]))
    c = Container(root, consensus_env(case), cachet).start()
    try:
        label = f"consensus {name}: {len(case['blocks'])} block(s)"
        up = c.wait_rpc()
        if not check(f"{label}: node starts", up, "" if up else c.log()[-600:]):
            return
        genesis = c.rpc("eth_getBlockByNumber", ["0x0", False])["hash"]
        want_genesis = case["genesisBlockHeader"]["hash"]
        if not check(f"{label}: genesis is the test's", genesis == want_genesis,
                     f"{genesis}, test {want_genesis}"):
            return
        latest = c.rpc("eth_getBlockByNumber", ["latest", False])
        check(f"{label}: latest is the test's lastblockhash", latest["hash"] == case["lastblockhash"],
              f"latest {latest['number']} {latest['hash']}, test {case['lastblockhash']}")
    finally:
        c.stop()


def discovery(c, tool, discv5):
    """geth's devp2p conformance suite, as hive's devp2p simulator runs it (no substitute)."""
    enode = c.enode()
    if discv5:
        name, args, cases = "discv5", ["discv5", "test", "-listen1", "127.0.0.1",
                                       "-listen2", "127.0.0.2", enode], 10
    else:
        name, args, cases = "discv4", ["discv4", "test", "-remote", enode, "-listen1", "127.0.0.1",
                                       "-listen2", "127.0.0.2"], 15
    out = subprocess.run([tool, *args], capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    ok = len([l for l in text.splitlines() if l.startswith("-- OK")])
    bad = [l for l in text.splitlines() if l.startswith("-- FAIL")]
    if bad or ok < cases:
        print(text[-4000:])
    check(f"{name}: geth devp2p {name} test (hive's devp2p/{name} suite)", ok >= cases and not bad,
          f"{ok} passed, {len(bad)} failed {bad}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not Path(sys.argv[2]).is_file():
        sys.exit("usage: run_local.py CACHET DEVP2P_TOOL (geth's devp2p, from scripts/install-test-peers)")
    sys.exit(run(Path(sys.argv[1]).resolve(), sys.argv[2]))
