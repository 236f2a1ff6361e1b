// An EthereumJS devp2p peer (RLPx + eth/68) for Cachet's interop tests.
//
//   node rlpx-peer.mjs listen <genesis.json> <genesisHash 0x…>
//   node rlpx-peer.mjs dial   <genesis.json> <genesisHash 0x…> <enode://…>
//
// Prints one JSON line per event on stdout:
//   {"event":"ready","id":"<128 hex>","enode":"enode://…@127.0.0.1:PORT","forkHash":"0x…","forkNext":"…"}
//   {"event":"done", "remoteId":…, "hello":{…}, "status":{…}, "pingFromRemote":bool, "pongFromRemote":bool}
// and exits 0 once it has seen the remote's Hello and Status, been pinged by the remote and had
// its own ping answered (or exits 1 after 20 s).
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { RLPx, ETH } from '@ethereumjs/devp2p'
import { createCommonFromGethGenesis } from '@ethereumjs/common'
import { bytesToHex, bytesToUnprefixedHex, hexToBytes, intToBytes } from '@ethereumjs/util'

const [mode, genesisPath, genesisHash, enode] = process.argv.slice(2)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const genesis = JSON.parse(readFileSync(genesisPath, 'utf8'))
const common = createCommonFromGethGenesis(genesis, { chain: 'cachet-interop', genesisHash: hexToBytes(genesisHash) })
// Our head is the genesis block: use the fork rules active there (fork id hash + next fork).
common.setHardforkBy({ blockNumber: 0n })

// 32 random bytes are a valid secp256k1 key except with probability < 2^-127.
const key = randomBytes(32)
const rlpx = new RLPx(key, { capabilities: [ETH.eth68], common, maxPeers: 5, listenPort: null })
const id = bytesToUnprefixedHex(rlpx.id)
const result = { event: 'done', pingFromRemote: false, pongFromRemote: false }
const timer = setTimeout(() => { out({ event: 'timeout', ...result }); process.exit(1) }, 20000)

function maybeDone() {
  if (result.hello && result.status && result.pingFromRemote && result.pongFromRemote) {
    out(result)
    clearTimeout(timer)
    // Stay connected a while: Cachet checks the session outlives its idle limit.
    setTimeout(() => process.exit(0), 4000)
  }
}

rlpx.events.on('peer:added', (peer) => {
  result.remoteId = bytesToUnprefixedHex(peer.getId())
  const h = peer.getHelloMessage()
  result.hello = {
    protocolVersion: h.protocolVersion,
    clientId: h.clientId,
    capabilities: h.capabilities.map((c) => `${c.name}/${c.version}`),
    id: bytesToUnprefixedHex(h.id),
  }
  const origPing = peer._handlePing.bind(peer)
  peer._handlePing = () => { result.pingFromRemote = true; origPing(); maybeDone() }
  const origPong = peer._handlePong.bind(peer)
  peer._handlePong = () => { result.pongFromRemote = true; origPong(); maybeDone() }
  const eth = peer.getProtocols()[0]
  eth.events.on('status', (s) => {
    result.status = {
      networkId: bytesToHex(s.chainId),
      td: bytesToHex(s.td),
      bestHash: bytesToHex(s.bestHash),
      genesisHash: bytesToHex(s.genesisHash),
      forkHash: bytesToHex(s.forkId[0]),
      forkNext: bytesToHex(s.forkId[1]),
    }
    peer._sendPing()
    maybeDone()
  })
  eth.sendStatus({ td: intToBytes(1), bestHash: hexToBytes(genesisHash), genesisHash: hexToBytes(genesisHash) })
})
rlpx.events.on('peer:removed', (peer, reason) => { result.removed = reason; })
rlpx.events.on('peer:error', (peer, err) => { result.error = String(err) })
rlpx.events.on('error', (err) => { result.error = String(err) })

const forkHash = common.forkHash(common.hardfork())
const forkNext = String(common.nextHardforkBlockOrTimestamp(common.hardfork()) ?? 0)
if (mode === 'listen') {
  rlpx.events.once('listening', () => {
    const port = rlpx._server.address().port
    out({ event: 'ready', id, enode: `enode://${id}@127.0.0.1:${port}`, forkHash, forkNext })
  })
  rlpx.listen(0, '127.0.0.1')
} else {
  const m = /^enode:\/\/([0-9a-f]{128})@([0-9.]+):(\d+)/.exec(enode)
  out({ event: 'ready', id, forkHash, forkNext })
  rlpx.connect({ id: hexToBytes('0x' + m[1]), address: m[2], tcpPort: Number(m[3]) }).catch((e) => {
    out({ event: 'error', error: String(e) }); process.exit(1)
  })
}
