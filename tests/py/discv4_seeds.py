# Writes discv4 fuzz seeds signed by an independent implementation (PyPI rlp + eth-keys)
# with the EIP-8 test key. Run from the workspace root: .venv-test/bin/python tests/py/discv4_seeds.py
import rlp, time
from eth_keys import keys
from eth_hash.auto import keccak
k = keys.PrivateKey(bytes.fromhex("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291"))
def packet(t, data):
    typed = bytes([t]) + rlp.encode(data)
    sig = k.sign_msg_hash(keccak(typed)).to_bytes()
    return keccak(sig + typed) + sig + typed
exp = 2000000000
ep = [bytes([127,0,0,1]), (30303).to_bytes(2,'big'), (30303).to_bytes(2,'big')]
seeds = {
 "seed-ping-enrseq": packet(1, [4, ep, ep, exp, 7]),
 "seed-enrrequest": packet(5, [exp]),
 "seed-enrresponse": packet(6, [b"\x11"*32, [b"\x22"*64, 1, b"id", b"v4"]]),
}
for n, b in seeds.items():
    open(f"crates/discovery/fuzz/corpus/discv4_packet/{n}", "wb").write(b)
    print(n, len(b))
