#!/usr/bin/env bash
# A Cachet validator among GoQuorum QBFT validators on loopback (docs/interop.md, "GoQuorum QBFT:
# a Cachet validator"). Not run by CI: GoQuorum is built by hand from its source.
#
#   tests/interop/goquorum-qbft-validator.sh GETH [CACHET] [DIR] [SECONDS]
#     GETH    GoQuorum's geth (ConsenSys/quorum, go build -ldflags=-checklinkname=0 ./cmd/geth)
#     CACHET  the cachet binary (default: $CARGO_TARGET_DIR or target, debug build)
#     DIR     work directory (default: a new temporary one; wiped at the start, kept on failure)
#     SECONDS how long the mixed network runs once Cachet validates (default 60)
#
# 1. tests/go/qbft-vectors/goquorum-devnet.sh starts the four GoQuorum validators (1 s blocks);
# 2. validator 3 (node key 4 of the quorum-examples 7nodes set, a published test key) is stopped
#    and its node key imported into a Cachet bundle (`cachet init --import-nodekey`, source
#    shredded); Cachet starts on validator 3's ports with `--mine` (goquorum-qbft-lib.sh,
#    qbft_stop_goquorum and qbft_start_cachet, as in the rolling migration);
# 3. checks: the network keeps committing; after SECONDS s, blocks proposed by Cachet's address
#    were committed by the GoQuorum validators, Cachet's committed seal is in blocks GoQuorum
#    imported, and Cachet and GoQuorum validator 0 agree on every block hash.
# Prints one line per check and exits 0 when all pass. Kills what it started (by pid) on exit.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/goquorum-qbft-lib.sh
source "$here/goquorum-qbft-lib.sh"

qbft_start_run "${1:-}" "${2:-}" "${3:-}"
SECS=${4:-60}
G0=$(url 0)
qbft_network_start
wait_until "GoQuorum committing (block 3)" 60 at_least_block "$G0" 3

# Validator 3 leaves; its key moves into a Cachet bundle.
JOINED=$(head_number "$G0")
qbft_stop_goquorum 3
CACHET_LOG=info,cachet::qbft=debug qbft_start_cachet 3
ME=${VALIDATOR[3]}
C3=$(url 3)
log "cachet: validator $ME started at GoQuorum head $JOINED"

sleep "$SECS"
c=$(head_number "$C3")
g=$(head_number "$G0")
((c > JOINED && c >= g - 3)) || fail "not at the head: cachet $c, goquorum $g (joined at $JOINED)"
log "ok: cachet head $c, goquorum head $g"
n=$((c < g ? c : g))
mine=0 sealed=0
for ((b = JOINED + 1; b <= n; b++)); do
    ch=$(block "$C3" "$b" | jq -r .hash)
    gh=$(block "$G0" "$b" | jq -r .hash)
    [[ $ch == "$gh" ]] || fail "block $b: cachet $ch, goquorum $gh"
    # GoQuorum's own view of who proposed and who committed block b.
    s=$(signers_of "$G0" "$b")
    [[ $(jq -r .author <<<"$s") == "$ME" ]] && mine=$((mine + 1))
    jq -e --arg a "$ME" '.committers | index($a)' <<<"$s" >/dev/null && sealed=$((sealed + 1))
done
log "ok: blocks $((JOINED + 1))..$n have the same hash on both"
((mine > 0)) || fail "no block proposed by cachet ($ME) was committed"
log "ok: $mine blocks proposed by cachet were committed by the network"
((sealed > 0)) || fail "cachet's committed seal is in no block"
log "ok: cachet's committed seal is in $sealed blocks (GoQuorum's istanbul_getSignersFromBlock)"
log "PASS"
