#!/usr/bin/env bash
# A 4-validator GoQuorum QBFT network on loopback (docs/dev/bft-wire.md §9a), for looking at real
# istanbul/100 traffic: ./goquorum-devnet.sh GETH DIR start|stop|heights|observer|kill N|restart N
#   GETH: a GoQuorum geth (go build -ldflags=-checklinkname=0 ./cmd/geth in ./quorum)
#   DIR:  a scratch directory (wiped by start)
# Validators are the quorum-examples 7nodes keys 1-4; ports 30400-30403; IPC at DIR/nI.ipc;
# JSON-RPC over HTTP at 127.0.0.1:8540-8543. `observer` adds n4, a GoQuorum node that is not a
# validator (a fresh node key, port 30404, HTTP 8544), dialling the four validators.
# Logs (DIR/nI.log, verbosity 4) carry every broadcast message: grep 'QBFT: broadcast'.
set -euo pipefail
GETH=${1:?geth binary}; DIR=${2:?scratch dir}; CMD=${3:?start|stop|heights}
KEYS=(1be3b50b31734be48452c29d714941ba165ef0cbf3ccea8ca16c45e3d8d45fb0
      9bdd6a2e7cc1ca4a4019029df3834d2633ea6e14034d6dcc3b944396fe13a08b
      722f11686b2277dcbd72713d8a3c81c666b585c337d47f503c3c1f3c17cf001d
      6af685c4de99d44c620ccd9464d19bdeb62a750b9ae49b1740fb28d68a0e5c7d)
PUBS=(ac6b1096ca56b9f6d004b779ae3728bf83f8e22453404cc3cef16a3d9b96608bc67c4b30db88e0a5a6c6390213f7acbe1153ff6d23ce57380104288ae19373ef
      0ba6b9f606a43a95edc6247cdb1c1e105145817be7bcafd6b2c0ba15d58145f0dc1a194f70ba73cd6f4cdd6864edc7687f311254c7555cc32e4d45aeb1b80416
      579f786d4e2830bbcc02815a27e8a9bacccc9605df4dc6f20bcc1a6eb391e7225fff7cb83e5b4ecd1f3a94d8b733803f2f66b7e871961e7b029e22c155c3a778
      3d9ca5956b38557aba991e31cf510d4df641dce9cc26bfeb7de082f0c07abb6ede3a58410c8f249dabeecee4ad3979929ac4c7c496ad20b8cfdd061b7401b4f5)
start_node() {
  local i=$1 mine=(--mine --miner.threads 1)
  [ "$i" -lt 4 ] || mine=()
  PRIVATE_CONFIG=ignore "$GETH" --datadir "$DIR/n$i" --nodiscover --port $((30400 + i)) --networkid 1337 \
    --syncmode full "${mine[@]}" --verbosity 4 --nousb --ipcpath "$DIR/n$i.ipc" \
    --http --http.addr 127.0.0.1 --http.port $((8540 + i)) --http.api admin,eth,net,web3,istanbul,debug \
    >>"$DIR/n$i.log" 2>&1 &
  echo $! >"$DIR/n$i.pid"
}
case "$CMD" in
start)
  rm -rf "$DIR" && mkdir -p "$DIR"
  # extraData = RLP([32 zero bytes, byte-sorted validators, no vote 0xc0, round 0x80, seals 0xc0]).
  EXTRA=0xf87aa00000000000000000000000000000000000000000000000000000000000000000f854946571d97f340c8495b661a823f2c2145ca47d63c294d8dba507e85f116b1f7e231ca8525fc9008a696694e36cbeb565b061217930767886474e3cde903ac594f512a992f3fb749857d758ffda1330e590fa915ec080c0
  cat >"$DIR/genesis.json" <<JSON
{"config":{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,
 "constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"isQuorum":true,
 "qbft":{"epochlength":30000,"blockperiodseconds":1,"requesttimeoutseconds":4,"policy":0,"ceil2Nby3Block":0}},
 "nonce":"0x0","timestamp":"0x0","extraData":"$EXTRA","gasLimit":"0x1c9c380","difficulty":"0x1",
 "mixHash":"0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
 "coinbase":"0x0000000000000000000000000000000000000000","alloc":{},"number":"0x0","gasUsed":"0x0",
 "parentHash":"0x0000000000000000000000000000000000000000000000000000000000000000"}
JSON
  STATIC="["
  for i in 0 1 2 3; do STATIC+="\"enode://${PUBS[$i]}@127.0.0.1:$((30400 + i))?discport=0\""; [ $i -lt 3 ] && STATIC+=","; done
  STATIC+="]"
  for i in 0 1 2 3; do
    mkdir -p "$DIR/n$i/geth"
    printf %s "${KEYS[$i]}" >"$DIR/n$i/geth/nodekey"
    echo "$STATIC" >"$DIR/n$i/static-nodes.json"
    "$GETH" --datadir "$DIR/n$i" init "$DIR/genesis.json" >"$DIR/n$i.init.log" 2>&1
    start_node $i
  done ;;
observer)
  mkdir -p "$DIR/n4/geth"
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$DIR/n4/geth/nodekey")
  cp "$DIR/n0/static-nodes.json" "$DIR/n4/static-nodes.json"
  "$GETH" --datadir "$DIR/n4" init "$DIR/genesis.json" >"$DIR/n4.init.log" 2>&1
  start_node 4 ;;
restart) start_node "${4:?node index}" ;;
kill) kill "$(cat "$DIR/n${4:?node index}.pid")" ;;
stop) for i in 0 1 2 3 4; do [ -f "$DIR/n$i.pid" ] && kill "$(cat "$DIR/n$i.pid")" 2>/dev/null || true; done ;;
heights) for i in 0 1 2 3; do echo "n$i $("$GETH" attach --exec eth.blockNumber "$DIR/n$i.ipc" 2>/dev/null | tail -1)"; done ;;
*) echo "usage: $0 GETH DIR start|stop|heights|observer|kill N|restart N" >&2; exit 2 ;;
esac
