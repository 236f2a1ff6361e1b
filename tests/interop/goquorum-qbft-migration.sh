#!/usr/bin/env bash
# Rolling migration of a 4-validator GoQuorum QBFT network to Cachet, on 127.0.0.1 (issue 18;
# not in CI: GoQuorum cannot be installed by the test scripts). docs/migration.md walks through
# the same steps; docs/interop.md records the runs.
#
#   tests/interop/goquorum-qbft-migration.sh GOQUORUM_GETH [CACHET] [WORKDIR]
#
# The network: tests/go/qbft-vectors/goquorum-devnet.sh's four GoQuorum QBFT validators n0..n3
# (pre-London genesis with isQuorum, 1 s blocks) and a GoQuorum non-validator n4 that stays
# GoQuorum to the end. For each validator in turn (at most one down at a time: 3 of 4 is QBFT's
# quorum, so the network commits throughout):
#   1. stop its GoQuorum process and wait for it to exit; wait until the other three have
#      committed DOWN_BLOCKS (default 8) blocks without it;
#   2. import its node key into a Cachet bundle (`cachet init --import-nodekey … --shred-source`),
#      check the bundle's address is the validator's;
#   3. start `cachet node --mine` on the same p2p and HTTP ports with the other validators as
#      --bootnodes;
#   4. wait until the network has committed blocks past the swap, the Cachet node is at the head,
#      and GoQuorum's n4 reads (istanbul_getSignersFromBlock) a block the Cachet node proposed and
#      a block carrying its committed seal.
# At the end all four validators run Cachet and keep committing: each of the ALL_CACHET_BLOCKS
# (default 60) blocks after the last swap, as GoQuorum's n4 reads it, has a validator as proposer
# and at least 3 committed seals, all from the validators, and each validator proposes and commits;
# istanbul_getValidators on every Cachet node gives the four; the five nodes agree (JSON-RPC of
# each) on hash, state root, transactions root, receipts root and timestamp of every block from 0.
# Everything it starts is killed by pid on exit, also on failure (the work directory is then kept
# and its path printed).

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/goquorum-qbft-lib.sh
source "$here/goquorum-qbft-lib.sh"

qbft_start_run "$@"
qbft_network_start observer
OBS=$(url 4)
WATCH_URL=$OBS
wait_until "the GoQuorum network at block 5 (seen by n4)" 120 at_least_block "$OBS" 5
log "GoQuorum network committing: n4 at block $(head_number "$OBS")"

# synced I: node I within 2 blocks of n4.
synced() { (($(head_number "$(url "$1")") + 2 >= $(head_number "$OBS"))); }

# seen_since I FROM: n4 has, after block FROM, a block proposed by validator I and a block with
# I's committed seal (scans forward from where the previous call stopped: SCAN).
seen_since() {
    local i=$1 head s
    head=$(head_number "$OBS")
    ((SCAN > $2)) || SCAN=$(($2 + 1))
    while ((SCAN <= head)); do
        s=$(signers_of "$OBS" "$SCAN") || return 1
        [[ $(jq -r .author <<<"$s") == "${VALIDATOR[$i]}" ]] && PROPOSED=$((PROPOSED + 1))
        jq -e --arg a "${VALIDATOR[$i]}" '.committers | index($a)' <<<"$s" >/dev/null && SEALED=$((SEALED + 1))
        SCAN=$((SCAN + 1))
    done
    ((PROPOSED > 0 && SEALED > 0))
}

SWAPS=()
FIRST=$(head_number "$OBS")
# Blocks the other three must commit while a validator is down (default 8: at least one of them
# falls to the missing validator as proposer, so its round times out and a round change elects
# another proposer: the quorum of 3 with Cachet in it handles a round change).
DOWN=${DOWN_BLOCKS:-8}
for i in 0 1 2 3; do
    log "== migrating n$i (validator ${VALIDATOR[$i]})"
    h0=$(head_number "$OBS")
    qbft_stop_goquorum "$i"
    wait_until "the network committing without n$i (n4 at block $((SWAP_AT + DOWN)))" 180 at_least_block "$OBS" $((SWAP_AT + DOWN))
    START_AT=$(head_number "$OBS")
    log "n$i: the other three committed blocks $((h0 + 1))..$START_AT without it"
    qbft_start_cachet "$i"
    wait_until "n$i (cachet) synced to n4's head" 240 synced "$i"
    SCAN=0 PROPOSED=0 SEALED=0
    wait_until "a block proposed by n$i (cachet) and one with its committed seal, read by GoQuorum's n4" 180 seen_since "$i" "$START_AT"
    h1=$(head_number "$OBS")
    wait_until "n4 past block $((h1 + 5))" 120 at_least_block "$OBS" $((h1 + 5))
    log "n$i: Cachet at $(head_number "$(url "$i")"), n4 at $(head_number "$OBS"); blocks $((START_AT + 1))..$((SCAN - 1)): $PROPOSED proposed by n$i, $SEALED with its committed seal"
    SWAPS+=("n$i: stopped at n4's block $h0, Cachet started at block $START_AT;")
done

# --- All four validators are Cachet --------------------------------------------------------------
last=$(head_number "$OBS")
W=${ALL_CACHET_BLOCKS:-60}
log "== all four validators run Cachet (from block $((last + 1)))"
# all_cachet_window: ALL_CACHET_BLOCKS (default 60) blocks after the last swap, each with a Cachet proposer and >= 3 committed
# seals from the validators, and every validator among the proposers and the committers.
all_cachet_window() {
    local head n s authors="" committers=""
    head=$(head_number "$OBS")
    ((head >= last + W)) || return 1
    for ((n = last + 1; n <= last + W; n++)); do
        s=$(signers_of "$OBS" "$n") || return 1
        jq -e --argjson v "$(printf '%s\n' "${VALIDATOR[@]}" | jq -R . | jq -sc .)" \
            '(.author as $a | $v | index($a)) and (.committers | length >= 3) and ((.committers - $v) == [])' \
            <<<"$s" >/dev/null || fail "block $n, read by n4: $s is not proposed and committed by the validators"
        authors+="$(jq -r .author <<<"$s") "
        committers+="$(jq -r '.committers[]' <<<"$s" | tr '\n' ' ')"
    done
    for i in 0 1 2 3; do
        grep -q "${VALIDATOR[$i]}" <<<"$authors" || fail "no block in $((last + 1))..$((last + W)) proposed by n$i"
        grep -q "${VALIDATOR[$i]}" <<<"$committers" || fail "n$i's committed seal is in no block of $((last + 1))..$((last + W))"
    done
    PROPOSERS=$(for v in $authors; do echo "$v"; done | sort | uniq -c | awk '{print $2":"$1}' | paste -sd' ')
    SEALS=$(for v in $committers; do echo "$v"; done | sort | uniq -c | awk '{print $2":"$1}' | paste -sd' ')
}
wait_until "n4 past block $((last + W))" 120 at_least_block "$OBS" $((last + W))
all_cachet_window
log "blocks $((last + 1))..$((last + W)) (all Cachet), as GoQuorum's n4 reads them: proposers $PROPOSERS; committed seals $SEALS"
for i in 0 1 2 3; do
    v=$(rpc "$(url "$i")" istanbul_getValidators '["latest"]' | jq -c 'map(ascii_downcase) | sort')
    [[ $v == "$(printf '%s\n' "${VALIDATOR[@]}" | jq -R . | jq -sc 'sort')" ]] || fail "n$i (cachet): validators $v"
done
log "istanbul_getValidators on the four Cachet nodes: the four validators"
# GoQuorum's n4, its static-nodes.json untouched, is peered with the four Cachet validators.
cachet_peers_of_n4() { rpc_quiet "$OBS" admin_peers | jq '[.[] | select(.name | startswith("cachet/"))] | length'; }
n4_has_four_cachet_peers() { [[ $(cachet_peers_of_n4) == 4 ]]; }
wait_until "GoQuorum's n4 peered with the four Cachet validators" 60 n4_has_four_cachet_peers
log "GoQuorum's n4 peers: $(rpc "$OBS" admin_peers | jq -c '[.[] | {name, eth: .protocols.eth.version, istanbul: .protocols.istanbul.version}] | group_by(.) | map(.[0] + {count: length})')"

# chain FROM TO URL: "number hash stateRoot transactionsRoot receiptsRoot timestamp" per block, fetched in
# JSON-RPC batches of 100.
chain() {
    local from=$1 to=$2 u=$3 a b
    for ((a = from; a <= to; a += 100)); do
        b=$((a + 99 < to ? a + 99 : to))
        jq -nc --argjson a "$a" --argjson b "$b" '
            def hex: if . < 16 then "0123456789abcdef"[.:.+1] else ((. / 16 | floor) | hex) + ((. % 16) | hex) end;
            [range($a; $b + 1) | {jsonrpc: "2.0", id: ., method: "eth_getBlockByNumber", params: ["0x" + hex, false]}]' |
            curl -sS --max-time 60 -H 'content-type: application/json' --data-binary @- "$u" |
            jq -r 'sort_by(.id)[] | .result | "\(.number) \(.hash) \(.stateRoot) \(.transactionsRoot) \(.receiptsRoot) \(.timestamp)"'
    done
}
end=$(($(head_number "$OBS") - 2))
for i in 0 1 2 3; do
    wait_until "n$i (cachet) at block $end" 60 at_least_block "$(url "$i")" "$end"
done
chain 0 "$end" "$OBS" >"$WORK/chain.n4"
[[ $(wc -l <"$WORK/chain.n4") == $((end + 1)) ]] && ! grep -q null "$WORK/chain.n4" || fail "n4's chain 0..$end is incomplete ($WORK/chain.n4)"
for i in 0 1 2 3; do
    chain 0 "$end" "$(url "$i")" >"$WORK/chain.c$i"
    diff -q "$WORK/chain.n4" "$WORK/chain.c$i" >/dev/null ||
        fail "n4 (GoQuorum) and n$i (cachet) differ: $(diff "$WORK/chain.n4" "$WORK/chain.c$i" | head -4)"
done
log "n4 (GoQuorum) and n0..n3 (Cachet): blocks 0..$end identical (hash, state/tx/receipt roots, timestamp); block $end $(awk 'END {print $2}' "$WORK/chain.n4")"
# Time between consecutive blocks from the first stop on (information: the pass criteria are the
# events above; a round change after a proposer's turn falls to a stopped validator shows here as
# a gap longer than the block period).
gap=0 at= prev= slow=()
while read -r n _ _ _ _ ts; do
    ((n > FIRST)) || { prev=$((ts)); continue; }
    ((ts - prev > 1)) && slow+=("$((n)):$((ts - prev))s")
    ((ts - prev > gap)) && gap=$((ts - prev)) at=$((n))
    prev=$((ts))
done <"$WORK/chain.n4"
log "${SWAPS[*]}"
log "blocks $((FIRST + 1))..$end: longest gap ${gap} s (before block $at); blocks after more than the 1 s period: ${slow[*]:-none}"
log "PASS"
