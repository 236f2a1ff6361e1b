#!/usr/bin/env bash
# A Cachet validator among GoQuorum QBFT validators on loopback (docs/interop.md, "GoQuorum QBFT:
# a Cachet validator"). Not run by CI: GoQuorum is built by hand from its source.
#
#   tests/interop/goquorum-qbft-validator.sh GETH [CACHET] [DIR] [SECONDS]
#     GETH    GoQuorum's geth (ConsenSys/quorum, go build -ldflags=-checklinkname=0 ./cmd/geth)
#     CACHET  the cachet binary (default: $CARGO_TARGET_DIR or target, debug build)
#     DIR     scratch directory (default: a new temporary one; wiped)
#     SECONDS how long the mixed network runs once Cachet validates (default 60)
#
# 1. tests/go/qbft-vectors/goquorum-devnet.sh starts the four GoQuorum validators (1 s blocks);
# 2. validator 3 (node key 4 of the quorum-examples 7nodes set, a published test key) is stopped
#    and its node key imported into a Cachet bundle (`cachet init --import-nodekey`, source
#    shredded); Cachet starts on validator 3's port with `--mine`;
# 3. checks: the network keeps committing; after SECONDS s, blocks proposed by Cachet's address
#    (coinbase) were committed by the GoQuorum validators, Cachet's committed seal is in blocks
#    GoQuorum imported, and Cachet and GoQuorum validator 0 agree on every block hash.
# Prints one line per check and exits 0 when all pass. Kills what it started (by pid) on exit.
set -euo pipefail
GETH=${1:?usage: $0 GETH [CACHET] [DIR] [SECONDS]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHET=${2:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/cachet}
DIR=${3:-$(mktemp -d)}
SECS=${4:-60}
DEVNET=$ROOT/tests/go/qbft-vectors/goquorum-devnet.sh
RPC=http://127.0.0.1:8561
KEY4=6af685c4de99d44c620ccd9464d19bdeb62a750b9ae49b1740fb28d68a0e5c7d
command -v jq >/dev/null || { echo "jq is missing (apt-get install jq)" >&2; exit 2; }
[ -x "$GETH" ] || { echo "no GoQuorum geth at $GETH" >&2; exit 2; }
[ -x "$CACHET" ] || { echo "no cachet binary at $CACHET (cargo build -p cachet)" >&2; exit 2; }

CPID=
cleanup() {
  [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null || true
  "$DEVNET" "$GETH" "$DIR/gq" stop || true
}
trap cleanup EXIT

rm -rf "$DIR" && mkdir -p "$DIR"
"$DEVNET" "$GETH" "$DIR/gq" start
echo "goquorum: 4 validators started ($DIR/gq/n*.log)"
gq() { "$GETH" attach --exec "$2" "$DIR/gq/n$1.ipc" 2>/dev/null | tail -1 | tr -d '"'; }
wait_for() { local t=$1; shift; for _ in $(seq "$t"); do if eval "$@"; then return 0; fi; sleep 1; done; return 1; }
fail() { echo "FAIL: $*"; tail -n 40 "$DIR/cachet.log"; exit 1; }
wait_for 60 '[ "$(gq 0 eth.blockNumber)" -ge 3 ]' || fail "GoQuorum does not commit"

# Validator 3 leaves; its key moves into a Cachet bundle.
kill "$(cat "$DIR/gq/n3.pid")"
while kill -0 "$(cat "$DIR/gq/n3.pid")" 2>/dev/null; do sleep 0.2; done
umask 077
printf '%s' "$KEY4" >"$DIR/nodekey"
"$CACHET" master-key new "local:$DIR/master.key" >/dev/null
"$CACHET" init --datadir "$DIR/cachet" --master-key "local:$DIR/master.key" \
  --import-nodekey "$DIR/nodekey" --shred-source >/dev/null
[ ! -e "$DIR/nodekey" ] || fail "the imported node key file was not shredded"
ME=$("$CACHET" inspect --datadir "$DIR/cachet" --json | jq -r .node_address | tr 'A-F' 'a-f')
BOOT=$(jq -r 'map(sub("\\?discport=0$"; "")) | .[0:3] | join(",")' "$DIR/gq/n0/static-nodes.json")
JOINED=$(gq 0 eth.blockNumber)
"$CACHET" node --datadir "$DIR/cachet" --genesis "$DIR/gq/genesis.json" --port 30403 --nodiscover \
  --bootnodes "$BOOT" --http.port 8561 --http.api eth,net,admin,debug --mine \
  --log info,cachet::qbft=debug >"$DIR/cachet.log" 2>&1 &
CPID=$!
echo "cachet: validator $ME started at GoQuorum head $JOINED (pid $CPID, $DIR/cachet.log)"

rpc() { curl -s -H 'content-type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC" | jq -c '.result'; }
head_of_cachet() { printf '%d' "$(rpc eth_blockNumber '[]' | tr -d '"' || echo 0)"; }
sleep "$SECS"
c=$(head_of_cachet); g=$(gq 0 eth.blockNumber)
[ "$c" -gt "$JOINED" ] && [ "$c" -ge "$((g - 3))" ] || fail "not at the head: cachet $c, goquorum $g (joined at $JOINED)"
echo "ok: cachet head $c, goquorum head $g"
n=$((c < g ? c : g))
mine=0; sealed=0
for b in $(seq "$((JOINED + 1))" "$n"); do
  ch=$(rpc eth_getBlockByNumber "[\"$(printf '0x%x' "$b")\",false]" | jq -r .hash)
  gh=$(gq 0 "eth.getBlock($b).hash")
  [ "$ch" = "$gh" ] || fail "block $b: cachet $ch, goquorum $gh"
  miner=$(gq 0 "eth.getBlock($b).miner" | tr 'A-F' 'a-f')
  [ "$miner" = "$ME" ] && mine=$((mine + 1))
  # GoQuorum's own view of who committed block b (istanbul.getSignersFromBlock)
  # (its number argument is a hex quantity: rpc.BlockNumber).
  gq 0 "JSON.stringify(istanbul.getSignersFromBlock('$(printf '0x%x' "$b")').Committers)" | tr 'A-F' 'a-f' | grep -q "$ME" && sealed=$((sealed + 1))
done
echo "ok: blocks $((JOINED + 1))..$n have the same hash on both"
[ "$mine" -gt 0 ] || fail "no block proposed by cachet ($ME) was committed"
echo "ok: $mine blocks proposed by cachet were committed by the network"
[ "$sealed" -gt 0 ] || fail "cachet's committed seal is in no block"
echo "ok: cachet's committed seal is in $sealed blocks (GoQuorum's istanbul.getSignersFromBlock)"
echo "PASS"
