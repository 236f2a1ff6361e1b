# Shared by tests/interop/goquorum-clique.sh and goquorum-clique-migration.sh (sourced, not run).
# Helpers to start GoQuorum geth and Cachet on 127.0.0.1, talk JSON-RPC to them, wait for
# events with a deadline, and kill by pid everything they started.

set -euo pipefail

# Every pid this script started; `cleanup` (the EXIT trap) kills them.
STARTED_PIDS=()

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() {
    log "FAIL: $*"
    exit 1
}

# Stops one process we started: SIGTERM, up to 15 s to exit, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not exit on SIGTERM within 15 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ $rc -ne 0 ]]; then
        log "exit $rc; logs and data are in $WORK"
    elif [[ "${KEEP_WORK:-0}" != 1 ]]; then
        rm -rf "$WORK"
    fi
    exit "$rc"
}

# setup_work: a fresh work directory, the EXIT/INT/TERM traps.
setup_work() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cachet-gq-XXXXXX")
    chmod 700 "$WORK"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    log "work directory $WORK"
}

# rpc URL METHOD [PARAMS_JSON]: prints `.result` as JSON; fails on an error answer.
rpc() {
    local url=$1 method=$2 params=${3:-[]} out
    out=$(curl -sS --max-time 10 -H 'content-type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$method\",\"params\":$params}" "$url") ||
        return 1
    if [[ $(jq -r 'has("error")' <<<"$out") == true ]]; then
        log "$method on $url: $(jq -c .error <<<"$out")"
        return 1
    fi
    jq -c .result <<<"$out"
}

# rpc_quiet: as rpc, no log line on failure (for polling).
rpc_quiet() { rpc "$@" 2>/dev/null; }

head_number() { printf '%d' "$(rpc_quiet "$1" eth_blockNumber | jq -r .)"; }

# block URL N: the block JSON (hashes only), "null" if the node lacks it.
block() { rpc "$1" eth_getBlockByNumber "[\"$(printf '0x%x' "$2")\",false]"; }

# wait_until DESCRIPTION DEADLINE_SECONDS COMMAND…: polls every second until COMMAND succeeds;
# fails the run with DESCRIPTION when the deadline passes.
wait_until() {
    local what=$1 deadline=$(($(date +%s) + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if (($(date +%s) > deadline)); then
            fail "timed out waiting for: $what"
        fi
        sleep 1
    done
}

at_least_block() { (($(head_number "$1") >= $2)); }

# free_port: one TCP port nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# new_nodekey FILE: a geth nodekey file (64 hex characters), as `geth`/`bootnode -genkey`
# write it: the GoQuorum side keeps its keys in clear files, which is what is migrated.
new_nodekey() {
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32), end="")' >"$1")
}

# gq_init DATADIR GENESIS: `geth init`.
gq_init() {
    "$GQ" --datadir "$1" init "$2" >"$1.init.log" 2>&1 || {
        cat "$1.init.log" >&2
        fail "GoQuorum geth init $2 failed"
    }
}

# gq_start NAME DATADIR P2P_PORT HTTP_PORT [EXTRA ARGS…]: starts GoQuorum geth (no privacy
# manager: PRIVATE_CONFIG=ignore), log in DATADIR.log; sets GQ_PID.
gq_start() {
    local name=$1 dir=$2 port=$3 http=$4
    shift 4
    PRIVATE_CONFIG=ignore "$GQ" --datadir "$dir" --networkid "$CHAIN_ID" --nodiscover --nat none \
        --port "$port" --ipcdisable --syncmode full --verbosity 3 \
        --http --http.addr 127.0.0.1 --http.port "$http" \
        --http.api admin,eth,net,web3,clique,txpool,personal,debug "$@" \
        >>"$dir.log" 2>&1 &
    GQ_PID=$!
    STARTED_PIDS+=("$GQ_PID")
    log "$name: GoQuorum geth pid $GQ_PID p2p $port rpc http://127.0.0.1:$http log $dir.log"
    wait_until "$name's JSON-RPC" 60 rpc_quiet "http://127.0.0.1:$http" eth_blockNumber
}

# cachet_start NAME DATADIR P2P_PORT HTTP_PORT [EXTRA ARGS…]: `cachet node` on loopback with
# the wallet's RPC signing on, log in DATADIR.log, startup line in DATADIR.out; sets CACHET_PID.
cachet_start() {
    local name=$1 dir=$2 port=$3 http=$4
    shift 4
    "$CACHET" --log "${CACHET_LOG:-info}" node --datadir "$dir" --genesis "$WORK/genesis.json" \
        --addr 127.0.0.1 --port "$port" --nodiscover --http.port "$http" --ws.port 0 \
        --wallet.rpc --http.api eth,net,web3,txpool,admin,clique "$@" \
        >"$dir.out" 2>>"$dir.log" &
    CACHET_PID=$!
    STARTED_PIDS+=("$CACHET_PID")
    log "$name: cachet node pid $CACHET_PID p2p $port rpc http://127.0.0.1:$http log $dir.log"
    wait_until "$name's JSON-RPC" 120 rpc_quiet "http://127.0.0.1:$http" eth_blockNumber
}

# enode_of_gq URL: the enode URL GoQuorum reports (admin_nodeInfo), with 127.0.0.1.
enode_of_gq() {
    rpc "$1" admin_nodeInfo | jq -r .enode | sed -E 's/@[^:]+:/@127.0.0.1:/; s/\?.*$//'
}

peer_count() { printf '%d' "$(rpc_quiet "$1" net_peerCount | jq -r .)"; }
has_peers() { (($(peer_count "$1") >= $2)); }

# same_chain A_URL B_URL FROM TO: every block FROM..TO has the same hash, state root,
# transactions root and receipts root on both nodes; fails naming the first difference.
same_chain() {
    local a=$1 b=$2 from=$3 to=$4 n ja jb
    for ((n = from; n <= to; n++)); do
        ja=$(block "$a" "$n" | jq -c '{hash,stateRoot,transactionsRoot,receiptsRoot,n:(.transactions|length)}')
        jb=$(block "$b" "$n" | jq -c '{hash,stateRoot,transactionsRoot,receiptsRoot,n:(.transactions|length)}')
        if [[ "$ja" != "$jb" || "$ja" == '{"hash":null'* ]]; then
            fail "block $n differs: $a has $ja, $b has $jb"
        fi
    done
}

# count_txs URL FROM TO: transactions in blocks FROM..TO.
count_txs() {
    local url=$1 from=$2 to=$3 n total=0
    for ((n = from; n <= to; n++)); do
        total=$((total + $(block "$url" "$n" | jq '.transactions|length')))
    done
    echo "$total"
}

# receipt_ok URL TXHASH: the transaction is in a block and succeeded.
receipt_ok() {
    local r
    r=$(rpc_quiet "$1" eth_getTransactionReceipt "[\"$2\"]") || return 1
    [[ $(jq -r .status <<<"$r") == 0x1 ]]
}

# clique_extra SIGNER…: clique genesis extraData for these signers (sorted, as clique requires).
clique_extra() {
    local s
    printf '0x%064d' 0
    for s in $(printf '%s\n' "$@" | tr 'A-F' 'a-f' | sed 's/^0x//' | sort); do
        printf '%s' "$s"
    done
    printf '%0130d\n' 0
}

# write_genesis FILE EXTRA ALLOC_JSON [CONFIG_EXTRA_JSON]: the pre-London clique genesis a
# GoQuorum clique network runs (Berlin at 0, no londonBlock, isQuorum true), period $PERIOD.
write_genesis() {
    local file=$1 extra=$2 alloc=$3 more=${4:-"{}"}
    jq -n --argjson chain "$CHAIN_ID" --argjson period "$PERIOD" --arg extra "$extra" \
        --argjson alloc "$alloc" --argjson more "$more" '{
        config: ({
            chainId: $chain, homesteadBlock: 0, eip150Block: 0, eip155Block: 0, eip158Block: 0,
            byzantiumBlock: 0, constantinopleBlock: 0, petersburgBlock: 0, istanbulBlock: 0,
            berlinBlock: 0, isQuorum: true,
            clique: {period: $period, epoch: 30000}
        } + $more),
        nonce: "0x0", timestamp: "0x0", extraData: $extra, gasLimit: "0x2faf0800",
        difficulty: "0x1", mixHash: "0x0000000000000000000000000000000000000000000000000000000000000000",
        coinbase: "0x0000000000000000000000000000000000000000", alloc: $alloc
    }' >"$file"
}

# The scripts' common start: GoQuorum's geth ($1) and the cachet binary ($2, default the debug
# build) checked and made absolute, CHAIN_ID and PERIOD (overridable), the work directory, both
# versions logged, a local master key (MK) and the keystore password file ($WORK/pw).
start_run() {
    GQ=${1:-}
    [[ -n "$GQ" && -x "$GQ" ]] || {
        echo "usage: $0 GOQUORUM_GETH [CACHET]" >&2
        echo "GoQuorum's geth is built from https://github.com/Consensys/quorum (go build -ldflags=-checklinkname=0 ./cmd/geth)" >&2
        exit 2
    }
    GQ=$(realpath "$GQ")
    CACHET=${2:-${CARGO_TARGET_DIR:-$(dirname "${BASH_SOURCE[0]}")/../../target}/debug/cachet}
    [[ -x "$CACHET" ]] || {
        echo "no cachet binary at $CACHET: cargo build -p cachet --bin cachet, or pass its path" >&2
        exit 2
    }
    CACHET=$(realpath "$CACHET")
    CHAIN_ID=${CHAIN_ID:-2018}
    PERIOD=${PERIOD:-2}
    setup_work
    log "GoQuorum: $("$GQ" version 2>/dev/null | grep -E '^(Version|Quorum Version|Git Commit):' | tr '\n' ' ')"
    log "Cachet: $("$CACHET" --version)"

    MK="local:$WORK/master.key"
    "$CACHET" master-key new "$MK" >/dev/null
    printf 'interop-test-password\n' >"$WORK/pw"
    chmod 600 "$WORK/pw"
}
