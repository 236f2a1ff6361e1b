#!/usr/bin/env bash
# A Cachet follower on a 4-validator GoQuorum QBFT network on loopback (docs/interop.md, "GoQuorum
# QBFT: a Cachet follower"). Not run by CI: GoQuorum is built by hand from its source.
#
#   tests/interop/goquorum-qbft-follower.sh GETH [CACHET] [DIR] [SECONDS]
#     GETH    GoQuorum's geth (ConsenSys/quorum, go build -ldflags=-checklinkname=0 ./cmd/geth)
#     CACHET  the cachet binary (default: $CARGO_TARGET_DIR or target, debug build)
#     DIR     scratch directory (default: a new temporary one; wiped)
#     SECONDS how long the follower must stay at the head once synced (default 180)
#
# 1. tests/go/qbft-vectors/goquorum-devnet.sh starts the four GoQuorum validators (ports
#    30400-30403, 1 s blocks);
# 2. a Cachet node with a fresh bundle, the same genesis and the four enodes as --bootnodes
#    (port 30410, JSON-RPC 127.0.0.1:8560);
# 3. checks: four peers, each with eth/66 and istanbul/100 (admin_peers); the follower reaches the
#    validators' head; every SECONDS/6 s for SECONDS s its head is within 3 blocks of validator
#    0's and the hash of a block both have is the same on both.
# Prints one line per check and exits 0 when all pass. Kills what it started (by pid) on exit.
set -euo pipefail
GETH=${1:?usage: $0 GETH [CACHET] [DIR] [SECONDS]}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHET=${2:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/cachet}
DIR=${3:-$(mktemp -d)}
SECS=${4:-180}
DEVNET=$ROOT/tests/go/qbft-vectors/goquorum-devnet.sh
RPC=http://127.0.0.1:8560
command -v jq >/dev/null || { echo "jq is missing (apt-get install jq)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing" >&2; exit 2; }
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

"$CACHET" master-key new "local:$DIR/master.key" >/dev/null
"$CACHET" init --datadir "$DIR/cachet" --master-key "local:$DIR/master.key" >/dev/null
BOOT=$(jq -r 'map(sub("\\?discport=0$"; "")) | join(",")' "$DIR/gq/n0/static-nodes.json")
"$CACHET" node --datadir "$DIR/cachet" --genesis "$DIR/gq/genesis.json" --port 30410 --nodiscover \
  --bootnodes "$BOOT" --http.port 8560 --http.api eth,net,admin \
  --log info,cachet::istanbul=debug >"$DIR/cachet.log" 2>&1 &
CPID=$!
echo "cachet: follower started (pid $CPID, $DIR/cachet.log)"

rpc() { curl -s -H 'content-type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$RPC" | jq -c '.result'; }
gq() { "$GETH" attach --exec "$2" "$DIR/gq/n$1.ipc" 2>/dev/null | tail -1 | tr -d '"'; }
# Waits up to $1 seconds for the command in $2 to succeed.
wait_for() { local t=$1; shift; for _ in $(seq "$t"); do if eval "$@"; then return 0; fi; sleep 1; done; return 1; }
fail() { echo "FAIL: $*"; tail -n 30 "$DIR/cachet.log"; exit 1; }

four_peers() { [ "$(rpc admin_peers '[]' | jq '[.[] | select(.protocols.istanbul.version == 100 and .protocols.eth.version == 66)] | length')" = 4 ]; }
wait_for 60 four_peers || fail "not 4 peers with eth/66 + istanbul/100: $(rpc admin_peers '[]')"
echo "ok: 4 GoQuorum peers, each with eth/66 and istanbul/100 negotiated: $(rpc admin_peers '[]' | jq -c '[.[] | {name, caps}] | .[0]')"

head_of_cachet() { printf '%d' "$(rpc eth_blockNumber '[]' | tr -d '"')"; }
synced() { local gh; gh=$(gq 0 eth.blockNumber); [ "$gh" -gt 0 ] && [ "$(head_of_cachet)" -ge "$((gh - 3))" ]; }
wait_for 120 synced || fail "not synced: cachet $(head_of_cachet), goquorum $(gq 0 eth.blockNumber)"
echo "ok: synced to $(head_of_cachet) (goquorum n0 at $(gq 0 eth.blockNumber))"

STEP=$((SECS / 6)); [ "$STEP" -gt 0 ] || STEP=1
for _ in 1 2 3 4 5 6; do
  sleep "$STEP"
  c=$(head_of_cachet); g=$(gq 0 eth.blockNumber)
  [ "$c" -ge "$((g - 3))" ] || fail "fell behind: cachet $c, goquorum $g"
  n=$((c < g ? c : g))
  ch=$(rpc eth_getBlockByNumber "[\"$(printf '0x%x' "$n")\",false]" | jq -r .hash)
  gh=$(gq 0 "eth.getBlock($n).hash")
  [ "$ch" = "$gh" ] || fail "block $n: cachet $ch, goquorum $gh"
  echo "ok: cachet head $c, goquorum head $g, block $n hash $ch on both"
done
grep -c 'frame received' "$DIR/cachet.log" | sed 's/^/info: istanbul\/100 frames received by the follower: /' || true
echo "PASS"
