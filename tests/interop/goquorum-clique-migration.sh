#!/usr/bin/env bash
# Rolling migration of a 3-signer GoQuorum clique network to Cachet, on 127.0.0.1 (issue 18;
# not in CI: GoQuorum cannot be installed by the test scripts). docs/migration.md walks
# through the same steps; docs/interop.md records the runs.
#
#   tests/interop/goquorum-clique-migration.sh GOQUORUM_GETH [CACHET]
#
# The network: signers n1, n2, n3 (GoQuorum geth --mine, each with its nodekey and a keystore
# account as clique signer) and an observer g0 (GoQuorum, not a signer) that stays GoQuorum to
# the end. For each signer in turn:
#   1. stop its GoQuorum process (the other two keep sealing: 2 of 3 clique signers suffice);
#   2. import its nodekey and its keystore (the clique signer) into a Cachet bundle with
#      `cachet init --import-nodekey … --import-keystore … --keystore-role sealer`, shredding
#      the plaintext files;
#   3. check the bundle has the same enode id and signer address;
#   4. start `cachet node --mine` on the same port with the others as bootnodes;
#   5. wait until it is at the head and GoQuorum's observer counts a block it sealed
#      (`clique_status` over the blocks since it started);
# while transactions are sent through the nodes. At the end all three signers are Cachet, the
# network kept sealing throughout (the observer's head moved during every step), and the
# observer and the three Cachet nodes agree on every block hash and state root.
# Everything it starts is killed by pid on exit, also on failure (the work directory is then
# kept and its path printed).

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/goquorum-clique-lib.sh
source "$here/goquorum-clique-lib.sh"

start_run "$@"

# --- The GoQuorum network --------------------------------------------------------------------
declare -A P2P HTTP SIGNER ENODE_ID PID
for n in g0 n1 n2 n3; do
    mkdir -p "$WORK/$n/geth"
    new_nodekey "$WORK/$n/geth/nodekey"
    P2P[$n]=$(free_port)
    HTTP[$n]=$(free_port)
    "$GQ" --datadir "$WORK/$n" account new --lightkdf --password "$WORK/pw" >/dev/null 2>&1 || fail "geth account new"
    SIGNER[$n]=$(jq -r '"0x" + .address' "$(ls "$WORK/$n"/keystore/UTC--*)")
done
alloc=$(for n in g0 n1 n2 n3; do echo "${SIGNER[$n]}"; done |
    jq -R '{(.): {balance: "0xd3c21bcecceda1000000"}}' | jq -s add)
write_genesis "$WORK/genesis.json" "$(clique_extra "${SIGNER[n1]}" "${SIGNER[n2]}" "${SIGNER[n3]}")" "$alloc"
log "genesis: $("$CACHET" genesis --genesis "$WORK/genesis.json" --json | jq -c '{genesis_hash, fork_id}')"

for n in g0 n1 n2 n3; do
    gq_init "$WORK/$n" "$WORK/genesis.json"
done
# Enode ids: GoQuorum's own answer (admin_nodeInfo) once it runs; static-nodes.json needs them
# first, so read them from a throwaway start of each node without peers.
for n in g0 n1 n2 n3; do
    gq_start "$n (id)" "$WORK/$n" "${P2P[$n]}" "${HTTP[$n]}"
    ENODE_ID[$n]=$(rpc "http://127.0.0.1:${HTTP[$n]}" admin_nodeInfo | jq -r .enode | sed -E "s|^enode://([0-9a-f]{128})@.*|\1|")
    [[ "${ENODE_ID[$n]}" =~ ^[0-9a-f]{128}$ ]] || fail "$n: no enode id in admin_nodeInfo"
    stop_pid "$GQ_PID"
done
enode() { echo "enode://${ENODE_ID[$1]}@127.0.0.1:${P2P[$1]}"; }
static=$(for n in g0 n1 n2 n3; do enode "$n"; done | jq -R . | jq -s .)
for n in g0 n1 n2 n3; do
    echo "$static" >"$WORK/$n/static-nodes.json"
done
for n in g0 n1 n2 n3; do
    extra=(--unlock "${SIGNER[$n]}" --password "$WORK/pw" --allow-insecure-unlock)
    [[ $n == g0 ]] || extra+=(--mine --miner.threads 1 --miner.etherbase "${SIGNER[$n]}")
    gq_start "$n" "$WORK/$n" "${P2P[$n]}" "${HTTP[$n]}" "${extra[@]}"
    PID[$n]=$GQ_PID
done
G0="http://127.0.0.1:${HTTP[g0]}"
url() { echo "http://127.0.0.1:${HTTP[$1]}"; }
wait_until "the GoQuorum network at block 10" 180 at_least_block "$G0" 10
log "GoQuorum network sealing: observer at block $(head_number "$G0"); $(rpc "$G0" clique_status | jq -c .sealerActivity)"

# sealed_by_since ADDR FROM: GoQuorum's observer counts a block ADDR sealed in FROM..head.
sealed_by_since() {
    local head n
    head=$(head_number "$G0")
    ((head > $2)) || return 1
    n=$(rpc_quiet "$G0" clique_status "[\"$(printf '0x%x' "$2")\",\"$(printf '0x%x' "$head")\"]" |
        jq --arg a "$1" '[.sealerActivity | to_entries[] | select((.key|ascii_downcase) == ($a|ascii_downcase)) | .value] | add // 0')
    ((n > 0))
}
# synced NODE_URL: within 2 blocks of the observer.
synced() { (($(head_number "$1") + 2 >= $(head_number "$G0"))); }

sent=()
send_from() {
    local tx
    tx=$(rpc "$1" eth_sendTransaction "[{\"from\":\"$2\",\"to\":\"0x00000000000000000000000000000000000000ee\",\"value\":\"0x1\"}]" | jq -r .) ||
        fail "eth_sendTransaction through $1"
    sent+=("$tx")
}

# --- One node at a time ------------------------------------------------------------------------
declare -A WALLET
for n in n1 n2 n3; do
    log "== migrating $n (signer ${SIGNER[$n]}, enode id ${ENODE_ID[$n]:0:16}…)"
    send_from "$G0" "${SIGNER[g0]}"
    h0=$(head_number "$G0")
    stop_pid "${PID[$n]}"
    log "$n: GoQuorum stopped at observer block $h0"
    wait_until "the network sealing without $n (observer past block $((h0 + 3)))" 120 at_least_block "$G0" $((h0 + 3))

    ks=$(ls "$WORK/$n"/keystore/UTC--*)
    "$CACHET" init --datadir "$WORK/c$n" --master-key "$MK" --chain-id "$CHAIN_ID" \
        --import-nodekey "$WORK/$n/geth/nodekey" \
        --import-keystore "$ks" --keystore-role sealer --password-file "$WORK/pw" \
        --shred-source >"$WORK/c$n.init.out" 2>&1 || {
        cat "$WORK/c$n.init.out" >&2
        fail "cachet init for $n"
    }
    [[ ! -e "$WORK/$n/geth/nodekey" && ! -e "$ks" ]] || fail "--shred-source left a plaintext key of $n"
    id=$("$CACHET" inspect --datadir "$WORK/c$n" --json)
    [[ $(jq -r .enode_id <<<"$id") == "${ENODE_ID[$n]}" ]] || fail "$n: bundle enode id $(jq -r .enode_id <<<"$id") is not ${ENODE_ID[$n]}"
    [[ $(jq -r .sealer_address <<<"$id") == "${SIGNER[$n]}" ]] || fail "$n: bundle signer $(jq -r .sealer_address <<<"$id") is not ${SIGNER[$n]}"
    WALLET[$n]=$(jq -r .wallet_address <<<"$id")
    log "$n: bundle has enode id and signer of the GoQuorum node; wallet ${WALLET[$n]} (new, unfunded)"

    boot=$(for m in g0 n1 n2 n3; do [[ $m == "$n" ]] || enode "$m"; done | paste -sd,)
    h1=$(head_number "$G0")
    cachet_start "$n (cachet)" "$WORK/c$n" "${P2P[$n]}" "${HTTP[$n]}" --mine --bootnodes "$boot"
    PID[$n]=$CACHET_PID
    wait_until "$n (cachet) synced to the observer's head" 180 synced "$(url "$n")"
    wait_until "a block sealed by $n's key through Cachet, counted by GoQuorum's observer" 180 sealed_by_since "${SIGNER[$n]}" "$h1"
    wait_until "the observer past block $((h1 + 6))" 120 at_least_block "$G0" $((h1 + 6))
    log "$n: Cachet at $(head_number "$(url "$n")"), observer at $(head_number "$G0"); sealers since block $h1: $(rpc "$G0" clique_status "[\"$(printf '0x%x' "$h1")\",\"$(printf '0x%x' "$(head_number "$G0")")\"]" | jq -c .sealerActivity)"
    # A transaction through a GoQuorum signer still running, if any.
    for m in n1 n2 n3; do
        if [[ -z "${WALLET[$m]:-}" ]]; then
            send_from "$(url "$m")" "${SIGNER[$m]}"
            break
        fi
    done
done

# --- All three are Cachet ----------------------------------------------------------------------
log "== all signers run Cachet"
for tx in "${sent[@]}"; do
    wait_until "receipt of $tx on the observer" 120 receipt_ok "$G0" "$tx"
done
h=$(head_number "$G0")
wait_until "the observer past block $((h + 6)) with only Cachet signers" 120 at_least_block "$G0" $((h + 6))
sealers=$(rpc "$G0" clique_status "[\"$(printf '0x%x' "$h")\",\"$(printf '0x%x' "$(head_number "$G0")")\"]" | jq -c .sealerActivity)
log "sealers of blocks $h.. (all Cachet): $sealers"
end=$(($(head_number "$G0") - 2))
for n in n1 n2 n3; do
    wait_until "c$n at block $end" 60 at_least_block "$(url "$n")" "$end"
    same_chain "$G0" "$(url "$n")" 0 "$end"
    log "GoQuorum observer and c$n: blocks 0..$end identical (hash, state/tx/receipt roots)"
done
# The longest time between two consecutive blocks on the canonical chain (information, not a
# pass/fail criterion: the pass criteria are the events above).
gap=0 prev=
for ((i = 1; i <= end; i++)); do
    t=$(($(block "$G0" "$i" | jq -r .timestamp)))
    [[ -n "$prev" ]] && ((t - prev > gap)) && gap=$((t - prev))
    prev=$t
done
log "blocks 0..$end: $(count_txs "$G0" 0 "$end") transactions; longest gap between consecutive blocks: ${gap} s (period $PERIOD s)"
for n in n1 n2 n3; do
    if grep -q 'doppelganger' "$WORK/c$n.log"; then
        grep 'doppelganger' "$WORK/c$n.log" | head -3 >&2
    fi
done
log "PASS"
