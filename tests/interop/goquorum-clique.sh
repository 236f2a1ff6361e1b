#!/usr/bin/env bash
# GoQuorum clique interop, on 127.0.0.1 (issue 18; not in CI: GoQuorum cannot be installed by
# the test scripts). Results are recorded in docs/interop.md, "GoQuorum clique".
#
#   tests/interop/goquorum-clique.sh GOQUORUM_GETH [CACHET]
#
# GOQUORUM_GETH: GoQuorum's geth built from source (Consensys/quorum, e.g. 0d4a719f:
#   `go build -ldflags=-checklinkname=0 -o goquorum-geth ./cmd/geth`).
# CACHET: the cachet binary (default: target/debug/cachet, or $CARGO_TARGET_DIR/debug/cachet).
#
# 0. Genesis: `cachet genesis` and GoQuorum's `geth init` give the same block 0 hash for the
#    clique genesis a GoQuorum operator has (isQuorum true, no londonBlock) and for variants
#    (no gasLimit / difficulty, no isQuorum key).
# A. Cachet seals, GoQuorum follows: a Cachet signer seals; a GoQuorum node syncs it and stays
#    at the head; transfers and a contract creation, sent through Cachet's wallet and through
#    GoQuorum (gossiped to Cachet over eth/66); same hashes and roots on both.
# B. GoQuorum seals, Cachet follows: GoQuorum `--mine` with an unlocked clique signer; a Cachet
#    node syncs; transfers and a contract creation sent through GoQuorum and through Cachet's
#    wallet (gossiped to GoQuorum); Cachet executes every block to the same state root.
# Everything it starts is killed by pid on exit, also on failure (the work directory is then
# kept and its path printed).

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/goquorum-clique-lib.sh
source "$here/goquorum-clique-lib.sh"

start_run "$@"

# A small contract: its creation stores 42 in slot 0 and logs one topic; its code returns slot 0.
TOPIC=1111111111111111111111111111111111111111111111111111111111111111
INITCODE="0x602a6000557f${TOPIC}60006000a16a60005460005260206000f3600052600b6015f3"

# send URL FROM TO VALUE_HEX: eth_sendTransaction, prints the hash.
send() {
    rpc "$1" eth_sendTransaction "[{\"from\":\"$2\",\"to\":\"$3\",\"value\":\"$4\"}]" | jq -r .
}
deploy() {
    rpc "$1" eth_sendTransaction "[{\"from\":\"$2\",\"data\":\"$INITCODE\"}]" | jq -r .
}

# The contract's address from a receipt, and its slot 0 / eth_call on both nodes.
check_contract() {
    local a=$1 b=$2 tx=$3 addr r
    addr=$(rpc "$a" eth_getTransactionReceipt "[\"$tx\"]" | jq -r .contractAddress)
    [[ "$addr" =~ ^0x[0-9a-f]{40}$ ]] || fail "no contract address in the receipt of $tx"
    for url in "$a" "$b"; do
        r=$(rpc "$url" eth_getStorageAt "[\"$addr\",\"0x0\",\"latest\"]" | jq -r .)
        [[ $((r)) -eq 42 ]] || fail "slot 0 of $addr on $url is $r, not 42"
        r=$(rpc "$url" eth_call "[{\"to\":\"$addr\"},\"latest\"]" | jq -r .)
        [[ $((r)) -eq 42 ]] || fail "eth_call $addr on $url is $r, not 42"
        r=$(rpc "$url" eth_getTransactionReceipt "[\"$tx\"]" | jq -c '[.status,(.logs|length),.logs[0].topics[0]]')
        [[ "$r" == "[\"0x1\",1,\"0x$TOPIC\"]" ]] || fail "receipt of $tx on $url: $r"
    done
    log "contract $addr: slot 0 = 42, eth_call = 42, one log, on both"
}

# same_balance A B ADDR: eth_getBalance agrees.
same_balance() {
    local x y
    x=$(rpc "$1" eth_getBalance "[\"$3\",\"latest\"]" | jq -r .)
    y=$(rpc "$2" eth_getBalance "[\"$3\",\"latest\"]" | jq -r .)
    [[ "$x" == "$y" ]] || fail "balance of $3: $1 says $x, $2 says $y"
}

# gq_account DATADIR: a new keystore account (scrypt, GoQuorum's defaults); prints its address.
gq_account() {
    "$GQ" --datadir "$1" account new --lightkdf --password "$WORK/pw" >/dev/null 2>&1 || fail "geth account new"
    jq -r '"0x" + .address' "$(ls "$1"/keystore/UTC--* | tail -1)"
}

###############################################################################################
log "== 0. genesis hashes: cachet genesis vs GoQuorum geth init"
MISMATCHES=()
check_genesis_hash() {
    local file=$1 what=$2 dir c g
    dir=$(mktemp -d "$WORK/g-XXXX")
    gq_init "$dir" "$file"
    g=$(PRIVATE_CONFIG=ignore "$GQ" --datadir "$dir" --nodiscover --maxpeers 0 --port 0 --ipcdisable --exec 'eth.getBlock(0).hash' console 2>/dev/null | tr -d '"\r' | tail -1)
    c=$("$CACHET" genesis --genesis "$file" --json | jq -r .genesis_hash)
    if [[ "$c" == "$g" ]]; then
        log "genesis ($what): both $c"
    else
        # Reported, and the run fails at its end, after A and B.
        log "genesis hash of $what: cachet $c, GoQuorum $g (MISMATCH)"
        MISMATCHES+=("$what")
    fi
}
alloc0='{"0x00000000000000000000000000000000000000aa":{"balance":"0x100"}}'
write_genesis "$WORK/g0.json" "$(clique_extra 0x00000000000000000000000000000000000000bb)" "$alloc0"
check_genesis_hash "$WORK/g0.json" "isQuorum true, gasLimit and difficulty stated"
jq '.gasLimit = "0x0"' "$WORK/g0.json" >"$WORK/g1.json"
check_genesis_hash "$WORK/g1.json" "isQuorum true, gasLimit 0 (GoQuorum: its default)"
jq 'del(.config.isQuorum)' "$WORK/g0.json" >"$WORK/g2.json"
check_genesis_hash "$WORK/g2.json" "no isQuorum key"

###############################################################################################
log "== A. Cachet seals, GoQuorum follows"
"$CACHET" init --datadir "$WORK/ca" --master-key "$MK" --chain-id "$CHAIN_ID" >/dev/null
ida=$("$CACHET" inspect --datadir "$WORK/ca" --json)
sealer_a=$(jq -r .sealer_address <<<"$ida")
wallet_a=$(jq -r .wallet_address <<<"$ida")
mkdir -p "$WORK/gqa"
gq_user_a=$(gq_account "$WORK/gqa")
alloc=$(jq -n --arg w "$wallet_a" --arg u "$gq_user_a" \
    '{($w): {balance: "0xd3c21bcecceda1000000"}, ($u): {balance: "0xd3c21bcecceda1000000"}}')
write_genesis "$WORK/genesis.json" "$(clique_extra "$sealer_a")" "$alloc"
"$CACHET" genesis --genesis "$WORK/genesis.json" | sed 's/^/    /' >&2

port_ca=$(free_port) http_ca=$(free_port)
cachet_start "cachet signer" "$WORK/ca" "$port_ca" "$http_ca" --mine
CA="http://127.0.0.1:$http_ca"
enode_ca="enode://$(jq -r .enode_id <<<"$ida")@127.0.0.1:$port_ca"

gq_init "$WORK/gqa" "$WORK/genesis.json"
jq -n --arg e "$enode_ca" '[$e]' >"$WORK/gqa/static-nodes.json"
port_ga=$(free_port) http_ga=$(free_port)
gq_start "GoQuorum follower" "$WORK/gqa" "$port_ga" "$http_ga" \
    --unlock "$gq_user_a" --password "$WORK/pw" --allow-insecure-unlock
GA="http://127.0.0.1:$http_ga"
wait_until "GoQuorum peering with Cachet" 60 has_peers "$GA" 1
log "GoQuorum's peer: $(rpc "$GA" admin_peers | jq -c '[.[] | {name, caps, eth: .protocols.eth.version}]')"
log "Cachet's peer: $(rpc "$CA" admin_peers | jq -c '[.[] | {name, caps, eth: .protocols.eth.version}]')"
wait_until "Cachet sealing block 3" 120 at_least_block "$CA" 3

# gasPrice on an isQuorum chain whose gas price is not enabled: refused by Cachet's pool.
if out=$(rpc "$CA" eth_sendTransaction "[{\"from\":\"$wallet_a\",\"to\":\"$gq_user_a\",\"value\":\"0x1\",\"gasPrice\":\"0x3b9aca00\"}]" 2>&1); then
    fail "Cachet accepted a transaction with a gas price on an isQuorum chain: $out"
fi
log "gas price 1 gwei refused by Cachet: ${out##*: }"

txs=()
for i in 1 2 3; do
    txs+=("$(send "$CA" "$wallet_a" 0x00000000000000000000000000000000000000c$i "0x$((i * 1000))")")
done
txs+=("$(send "$GA" "$gq_user_a" 0x00000000000000000000000000000000000000d1 0x2a)")
txs+=("$(send "$GA" "$gq_user_a" "$wallet_a" 0xde0b6b3a7640000)")
deploy_a=$(deploy "$CA" "$wallet_a")
deploy_a2=$(deploy "$GA" "$gq_user_a")
txs+=("$deploy_a" "$deploy_a2")
for tx in "${txs[@]}"; do
    wait_until "receipt of $tx on Cachet" 120 receipt_ok "$CA" "$tx"
    wait_until "receipt of $tx on GoQuorum" 120 receipt_ok "$GA" "$tx"
done
last_tx_block=$(for tx in "${txs[@]}"; do rpc "$CA" eth_getTransactionReceipt "[\"$tx\"]" | jq -r .blockNumber; done | sort -u | tail -1)
target=$(($(head_number "$CA") + 5))
wait_until "GoQuorum at block $target" 120 at_least_block "$GA" "$target"
same_chain "$CA" "$GA" 0 "$target"
ntx=$(count_txs "$CA" 0 "$target")
check_contract "$CA" "$GA" "$deploy_a"
check_contract "$GA" "$CA" "$deploy_a2"
for a in "$wallet_a" "$gq_user_a" 0x00000000000000000000000000000000000000c1 0x00000000000000000000000000000000000000d1 "$sealer_a"; do
    same_balance "$CA" "$GA" "$a"
done
log "A: blocks 0..$target identical (hash, state/tx/receipt roots) on Cachet and GoQuorum; $ntx transactions (last in block $((last_tx_block)))"
# GoQuorum stays at the head: it follows Cachet's next blocks too.
target=$(($(head_number "$CA") + 5))
wait_until "GoQuorum following to block $target" 120 at_least_block "$GA" "$target"
same_chain "$CA" "$GA" $((target - 5)) "$target"
grep -iE 'bad block|invalid|drop' "$WORK/gqa.log" | head -5 >&2 || true
log "A: passed (GoQuorum at $(head_number "$GA"), Cachet at $(head_number "$CA"))"
for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
STARTED_PIDS=()

###############################################################################################
log "== B. GoQuorum seals, Cachet follows"
mkdir -p "$WORK/gqb"
signer_b=$(gq_account "$WORK/gqb")
"$CACHET" init --datadir "$WORK/cb" --master-key "$MK" --chain-id "$CHAIN_ID" >/dev/null
idb=$("$CACHET" inspect --datadir "$WORK/cb" --json)
wallet_b=$(jq -r .wallet_address <<<"$idb")
alloc=$(jq -n --arg w "$wallet_b" --arg u "$signer_b" \
    '{($w): {balance: "0xd3c21bcecceda1000000"}, ($u): {balance: "0xd3c21bcecceda1000000"}}')
write_genesis "$WORK/genesis.json" "$(clique_extra "$signer_b")" "$alloc"
gq_init "$WORK/gqb" "$WORK/genesis.json"
port_gb=$(free_port) http_gb=$(free_port)
gq_start "GoQuorum signer" "$WORK/gqb" "$port_gb" "$http_gb" \
    --mine --miner.threads 1 --miner.etherbase "$signer_b" \
    --unlock "$signer_b" --password "$WORK/pw" --allow-insecure-unlock
GB="http://127.0.0.1:$http_gb"
wait_until "GoQuorum sealing block 3" 120 at_least_block "$GB" 3
enode_gb=$(enode_of_gq "$GB")

port_cb=$(free_port) http_cb=$(free_port)
cachet_start "cachet follower" "$WORK/cb" "$port_cb" "$http_cb" --bootnodes "$enode_gb"
CB="http://127.0.0.1:$http_cb"
wait_until "Cachet peering with GoQuorum" 60 has_peers "$CB" 1
log "Cachet's peer: $(rpc "$CB" admin_peers | jq -c '[.[] | {name, caps, eth: .protocols.eth.version}]')"

txs=()
for i in 1 2 3; do
    txs+=("$(send "$GB" "$signer_b" 0x00000000000000000000000000000000000000e$i "0x$((i * 7))")")
done
txs+=("$(send "$CB" "$wallet_b" 0x00000000000000000000000000000000000000f1 0x2a)")
txs+=("$(send "$CB" "$wallet_b" "$signer_b" 0xde0b6b3a7640000)")
deploy_b=$(deploy "$GB" "$signer_b")
deploy_b2=$(deploy "$CB" "$wallet_b")
txs+=("$deploy_b" "$deploy_b2")
for tx in "${txs[@]}"; do
    wait_until "receipt of $tx on GoQuorum" 120 receipt_ok "$GB" "$tx"
    wait_until "receipt of $tx on Cachet" 120 receipt_ok "$CB" "$tx"
done
target=$(($(head_number "$GB") + 5))
wait_until "Cachet at block $target" 120 at_least_block "$CB" "$target"
same_chain "$GB" "$CB" 0 "$target"
ntx=$(count_txs "$GB" 0 "$target")
check_contract "$GB" "$CB" "$deploy_b"
check_contract "$CB" "$GB" "$deploy_b2"
for a in "$wallet_b" "$signer_b" 0x00000000000000000000000000000000000000e1 0x00000000000000000000000000000000000000f1; do
    same_balance "$GB" "$CB" "$a"
done
log "B: blocks 0..$target identical (hash, state/tx/receipt roots) on GoQuorum and Cachet; $ntx transactions"
target=$(($(head_number "$GB") + 5))
wait_until "Cachet following to block $target" 120 at_least_block "$CB" "$target"
same_chain "$GB" "$CB" $((target - 5)) "$target"
log "B: passed (GoQuorum at $(head_number "$GB"), Cachet at $(head_number "$CB"))"
((${#MISMATCHES[@]} == 0)) || fail "genesis hashes differ for: ${MISMATCHES[*]}"
log "PASS"
