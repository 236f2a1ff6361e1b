# Shared by tests/interop/goquorum-qbft-validator.sh and goquorum-qbft-migration.sh (sourced, not
# run). The GoQuorum QBFT network is tests/go/qbft-vectors/goquorum-devnet.sh's (validators n0..n3:
# the quorum-examples 7nodes keys 1-4, p2p 30400+i, JSON-RPC http://127.0.0.1:8540+i; optional
# GoQuorum non-validator n4 on 30404/8544). Replacing validator i by Cachet keeps its p2p and HTTP
# ports, so url i is the same whichever client runs it. The generic helpers (log, fail, rpc,
# wait_until, stop_pid, same_chain, the EXIT trap) are goquorum-clique-lib.sh's.

qbft_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/goquorum-clique-lib.sh
source "$qbft_lib_dir/goquorum-clique-lib.sh"
DEVNET=$(realpath "$qbft_lib_dir/../go/qbft-vectors/goquorum-devnet.sh")

# url I: node I's JSON-RPC endpoint (GoQuorum's or, once swapped, Cachet's).
url() { echo "http://127.0.0.1:$((8540 + $1))"; }

# qbft_network_start [observer]: the four GoQuorum validators (and, with `observer`, the GoQuorum
# non-validator n4) under $WORK/gq; their pids join STARTED_PIDS; waits until every JSON-RPC
# answers. Sets VALIDATOR[i] (address, lowercase) and ENODE[i] (from static-nodes.json).
declare -A VALIDATOR ENODE PID
qbft_network_start() {
    local i nodes=(0 1 2 3)
    "$DEVNET" "$GQ" "$WORK/gq" start >/dev/null
    [[ ${1:-} == observer ]] && "$DEVNET" "$GQ" "$WORK/gq" observer >/dev/null && nodes+=(4)
    for i in "${nodes[@]}"; do
        PID[$i]=$(cat "$WORK/gq/n$i.pid")
        STARTED_PIDS+=("${PID[$i]}")
    done
    for i in "${nodes[@]}"; do
        wait_until "GoQuorum n$i's JSON-RPC" 60 rpc_quiet "$(url "$i")" eth_blockNumber
    done
    for i in 0 1 2 3; do
        ENODE[$i]=$(jq -r --argjson i "$i" '.[$i] | sub("\\?discport=0$"; "")' "$WORK/gq/n0/static-nodes.json")
        VALIDATOR[$i]=$(rpc "$(url "$i")" istanbul_nodeAddress | jq -r . | tr 'A-F' 'a-f')
    done
    log "GoQuorum: ${#nodes[@]} nodes started (logs $WORK/gq/n*.log); validators ${VALIDATOR[*]}"
}

# signers_of URL N: GoQuorum's view of block N, {author, committers} (istanbul_getSignersFromBlock:
# the proposer from the proposer seal, the committers recovered from the committed seals).
signers_of() {
    rpc "$1" istanbul_getSignersFromBlock "[\"$(printf '0x%x' "$2")\"]" |
        jq -c '{author: (.Author | ascii_downcase), committers: [.Committers[] | ascii_downcase]}'
}

# qbft_stop_goquorum I: validator I's GoQuorum process is stopped (by pid) and waited for. Sets
# SWAP_AT: the highest block GoQuorum's nI can have helped make (one in flight past the head of a
# node still running: WATCH_URL, default the next validator's).
qbft_stop_goquorum() {
    local i=$1
    stop_pid "${PID[$i]}"
    SWAP_AT=$(($(head_number "${WATCH_URL:-$(url $(((i + 1) % 4)))}") + 2))
    log "n$i: GoQuorum stopped (pid ${PID[$i]})"
}

# qbft_start_cachet I [NODE ARGS…]: validator I comes back as Cachet, as docs/migration.md says:
# its node key ($WORK/gq/nI/geth/nodekey) is imported into a new bundle $WORK/cI with
# --shred-source; the bundle's address must be the validator's; `cachet node --mine` starts on
# I's p2p and HTTP ports with the other validators as --bootnodes (log $WORK/cI.log). Sets PID[I]
# and CACHET_PID.
qbft_start_cachet() {
    local i=$1 j boot addr
    shift
    "$CACHET" init --datadir "$WORK/c$i" --master-key "$MK" \
        --import-nodekey "$WORK/gq/n$i/geth/nodekey" --shred-source >"$WORK/c$i.init.out" 2>&1 || {
        cat "$WORK/c$i.init.out" >&2
        fail "cachet init --import-nodekey for n$i"
    }
    [[ ! -e "$WORK/gq/n$i/geth/nodekey" ]] || fail "--shred-source left n$i's plaintext node key"
    addr=$("$CACHET" inspect --datadir "$WORK/c$i" --json | jq -r .node_address | tr 'A-F' 'a-f')
    [[ $addr == "${VALIDATOR[$i]}" ]] || fail "n$i: the bundle's address $addr is not the validator's ${VALIDATOR[$i]}"
    boot=$(for j in 0 1 2 3; do [[ $j == "$i" ]] || echo "${ENODE[$j]}"; done | paste -sd,)
    "$CACHET" --log "${CACHET_LOG:-info}" node --datadir "$WORK/c$i" --genesis "$WORK/gq/genesis.json" \
        --addr 127.0.0.1 --port $((30400 + i)) --nodiscover --bootnodes "$boot" \
        --http.port $((8540 + i)) --ws.port 0 --http.api eth,net,web3,admin,debug,istanbul \
        --mine "$@" >"$WORK/c$i.out" 2>>"$WORK/c$i.log" &
    CACHET_PID=$!
    PID[$i]=$CACHET_PID
    STARTED_PIDS+=("$CACHET_PID")
    log "n$i: node key imported ($addr), cachet node --mine pid $CACHET_PID on p2p $((30400 + i)), rpc $(url "$i"), log $WORK/c$i.log"
    wait_until "n$i (cachet)'s JSON-RPC" 120 rpc_quiet "$(url "$i")" eth_blockNumber
}

# qbft_start_run GETH [CACHET] [WORKDIR]: start_run (binaries, versions, master key MK), chain id
# 1337 (the devnet's genesis); WORKDIR, if given, replaces the temporary work directory.
qbft_start_run() {
    CHAIN_ID=1337
    start_run "${1:-}" "${2:-}"
    if [[ -n "${3:-}" ]]; then
        rm -rf "$3" && mkdir -p "$3" && mv "$WORK"/* "$3"/ && rmdir "$WORK"
        WORK=$(realpath "$3")
        MK="local:$WORK/master.key"
        log "work directory is now $WORK"
    fi
}
