#!/bin/bash
# Cachet's hive entrypoint: maps hive's genesis and HIVE_* variables to `cachet node` flags.
#
# Keys: on first start the node's bundle is created under a local master key; a clique key
# that hive hands over in clear (HIVE_CLIQUE_PRIVATEKEY) is imported through a pipe and a
# node key file (/nodekey, geth format; a Cachet extension) is imported and shredded, so the
# node always starts through the production unlock path and no plaintext key stays on disk.
# On later starts (container restart) the existing bundle is used: the enode stays the same,
# and a missing or replaced master key makes the node exit non-zero before 8545 opens.
#
# Files (under HIVE_ROOT, empty in the container): /genesis.json (mandatory; the image ships a
# default), /chain.rlp and /blocks/*.rlp (optional, imported before the node starts), /nodekey
# (optional).
#
# hive variables: HIVE_BOOTNODE, HIVE_NETWORK_ID, HIVE_CHAIN_ID, HIVE_NODETYPE, HIVE_LOGLEVEL,
# HIVE_FORK_*, HIVE_*_TIMESTAMP, HIVE_TERMINAL_TOTAL_DIFFICULTY, HIVE_MERGE_BLOCK_ID (via
# mapper.jq), HIVE_CLIQUE_PERIOD, HIVE_CLIQUE_PRIVATEKEY, HIVE_MINER, HIVE_MINER_EXTRA,
# HIVE_DISCV5, HIVE_SKIP_POW (hive's consensus simulator sets it for `NoProof` BlockchainTests:
# `--skip-pow` on `cachet import` and `cachet node`, which accept it on ethash chains only).
# Cachet's own (the local runner sets them; the container needs none): HIVE_ROOT, CACHET_BIN,
# CACHET_MAPPER, CACHET_HTTP_ADDR/PORT, CACHET_P2P_ADDR/PORT.
set -euo pipefail

ROOT="${HIVE_ROOT:-}"
CACHET="${CACHET_BIN:-/usr/local/bin/cachet}"
MAPPER="${CACHET_MAPPER:-$ROOT/mapper.jq}"
DATA="$ROOT/cachet"
MASTER_DIR="$ROOT/cachet-master"
MASTER="$MASTER_DIR/master.key"
GENESIS="$ROOT/cachet-genesis.json"
HTTP_ADDR="${CACHET_HTTP_ADDR:-0.0.0.0}"
HTTP_PORT="${CACHET_HTTP_PORT:-8545}"
P2P_ADDR="${CACHET_P2P_ADDR:-0.0.0.0}"
P2P_PORT="${CACHET_P2P_PORT:-30303}"

say() { echo "cachet.sh: $*" >&2; }

case "${HIVE_NODETYPE:-}" in
  "" | full | archive) ;;
  snap) say "HIVE_NODETYPE=snap: Cachet has no snap sync; running a full node" ;;
  *) say "unsupported HIVE_NODETYPE=${HIVE_NODETYPE}"; exit 1 ;;
esac

case "${HIVE_LOGLEVEL:-3}" in
  0) LOG=off ;; 1) LOG=error ;; 2) LOG=warn ;; 3) LOG=info ;; 4) LOG=debug ;; *) LOG=trace ;;
esac

# The chain: hive's genesis with `config` rebuilt from the environment.
jq -f "$MAPPER" "$ROOT/genesis.json" > "$GENESIS.tmp"
mv "$GENESIS.tmp" "$GENESIS"
CHAIN_ID="$(jq -r '.config.chainId' "$GENESIS")"
say "chain id $CHAIN_ID, engine $(jq -c '.config | if .clique then {clique} else "ethash" end' "$GENESIS")"

# Keys: created once, then always unlocked through the master key.
if [ ! -f "$DATA/keys.cachet" ]; then
  mkdir -p "$MASTER_DIR"
  chmod 700 "$MASTER_DIR"
  [ -f "$MASTER" ] || "$CACHET" master-key new "local:$MASTER"
  INIT=(init --datadir "$DATA" --master-key "local:$MASTER" --chain-id "$CHAIN_ID")
  if [ -f "$ROOT/nodekey" ]; then
    INIT+=(--import-nodekey "$ROOT/nodekey" --shred-source)
  fi
  if [ -n "${HIVE_CLIQUE_PRIVATEKEY:-}" ]; then
    # A pipe, not a file: the key never touches the disk.
    "$CACHET" "${INIT[@]}" --import-sealing-key <(printf '%s' "${HIVE_CLIQUE_PRIVATEKEY#0x}")
  else
    "$CACHET" "${INIT[@]}"
  fi
fi
unset HIVE_CLIQUE_PRIVATEKEY

# Proof of work skipped (hive's consensus simulator, `NoProof` test cases): every other rule
# of the block (state root, receipts, gas, ...) is still checked.
SKIP_POW=()
if [ -n "${HIVE_SKIP_POW:-}" ] && [ "${HIVE_SKIP_POW}" != "0" ]; then
  SKIP_POW=(--skip-pow)
fi

# Chain files. Some hive chains are meant to fail partway (BlockchainTests with invalid
# blocks); each file is imported on its own, so a refused block stops only its file, and the
# node starts either way.
IMPORT=(--log "$LOG" import "${SKIP_POW[@]}" --datadir "$DATA" --genesis "$GENESIS")
if [ -f "$ROOT/chain.rlp" ]; then
  "$CACHET" "${IMPORT[@]}" "$ROOT/chain.rlp" || say "importing chain.rlp stopped early (see above)"
fi
if [ -d "$ROOT/blocks" ]; then
  while IFS= read -r block; do
    "$CACHET" "${IMPORT[@]}" "$ROOT/blocks/$block" || say "importing blocks/$block failed"
  done < <(ls "$ROOT/blocks" | sort -n)
fi

FLAGS=(--log "$LOG" node "${SKIP_POW[@]}" --datadir "$DATA" --genesis "$GENESIS"
  --addr "$P2P_ADDR" --port "$P2P_PORT" --http.addr "$HTTP_ADDR" --http.port "$HTTP_PORT"
  # hive's simulators call admin_nodeInfo and debug_getRawHeader, by container name or IP
  # (as geth's hive client: --http.api admin,debug,eth,net,web3 --http.vhosts '*').
  --http.api eth,net,web3,admin,debug --http.vhosts '*')
if [ -n "${HIVE_BOOTNODE:-}" ]; then
  FLAGS+=(--bootnodes "$HIVE_BOOTNODE")
fi
if [ -n "${HIVE_NETWORK_ID:-}" ]; then
  FLAGS+=(--networkid "$HIVE_NETWORK_ID")
fi
if [ -n "${HIVE_DISCV5:-}" ] && [ "${HIVE_DISCV5}" != "0" ]; then
  # discv5 takes the enode's UDP port (what hive's discv5 suite probes); discv4 moves up one.
  FLAGS+=(--discv5.port "$P2P_PORT" --discovery.port "$((P2P_PORT + 1))")
fi
if [ -n "${HIVE_MINER:-}" ]; then
  SEALER="$("$CACHET" inspect --datadir "$DATA" --json | jq -r '.sealer_address')"
  if [ "$(echo "${HIVE_MINER#0x}" | tr 'A-F' 'a-f')" != "${SEALER#0x}" ]; then
    say "HIVE_MINER ${HIVE_MINER} is not the bundle's sealer ${SEALER}; sealing as ${SEALER}"
  fi
  FLAGS+=(--mine)
fi
if [ -n "${HIVE_MINER_EXTRA:-}" ]; then
  FLAGS+=(--miner.extradata "$HIVE_MINER_EXTRA")
fi

say "running cachet ${FLAGS[*]}"
exec "$CACHET" "${FLAGS[@]}"
