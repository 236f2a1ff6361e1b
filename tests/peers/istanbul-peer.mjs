// An EthereumJS devp2p peer (@ethereumjs/devp2p) that offers eth/<version> AND GoQuorum's consensus
// sub-protocol istanbul/100 (22 message ids, docs/dev/bft-wire.md §1) to a Cachet node
// (Cachet's istanbul/100 interop test). EthereumJS negotiates and places the capabilities by its
// own code (RLPx Peer: shared capabilities sorted by name, offsets from 0x10); the istanbul/100
// handler below only carries bytes.
//
//   node istanbul-peer.mjs <66|67|68> <genesis.json> <genesisHash 0x…> <enode://…> <code> <payload 0x…>
//
// It dials and exchanges Hello and Status on eth; once Status has arrived it sends on istanbul/100
// first one message with code 0x07 (a code no engine uses there: must be ignored, not a
// disconnect), then <code> with <payload>, and prints {"event":"sent", "hello", "protocols":
// [{name, version, offset, length}]}. It then waits for one istanbul/100 message from Cachet and
// prints {"event":"received", "code" (relative), "wireId" (the absolute message id as read off
// the wire), "payload"} and exits 0. Errors print {"event":"error"|"timeout"} and exit 1.
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { RLPx, ETH } from '@ethereumjs/devp2p'
import { createCommonFromGethGenesis } from '@ethereumjs/common'
import { bytesToHex, bytesToUnprefixedHex, hexToBytes, intToBytes } from '@ethereumjs/util'
// The compression @ethereumjs/devp2p itself uses for p2p v5 (its dependency).
import * as snappy from 'snappyjs'

const [version, genesisPath, genesisHash, enode, codeArg, payloadHex] = process.argv.slice(2)
const capability = { 66: ETH.eth66, 67: ETH.eth67, 68: ETH.eth68 }[version]
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
if (capability === undefined) { out({ event: 'error', error: `unknown eth version ${version}` }); process.exit(2) }
const fail = (event, extra) => { out({ event, ...extra }); process.exit(1) }
const timer = setTimeout(() => fail('timeout', {}), 40000)
const genesis = JSON.parse(readFileSync(genesisPath, 'utf8'))
const common = createCommonFromGethGenesis(genesis, { chain: 'cachet-interop', genesisHash: hexToBytes(genesisHash) })
common.setHardforkBy({ blockNumber: 0n, timestamp: 0n })

// The absolute ids of every message Cachet sends, as the RLPx Peer reads them (before it
// subtracts a capability's offset).
const wireIds = []
let done = false

class Istanbul {
  constructor (version, peer, send) {
    this._version = version
    this._peer = peer
    this._send = send
  }

  send (code, payload) {
    const hello = this._peer._hello
    this._send(code, hello !== null && hello.protocolVersion >= 5 ? snappy.compress(payload) : payload)
  }

  _handleMessage (code, payload) {
    done = true
    out({ event: 'received', code, wireId: wireIds[wireIds.length - 1], payload: bytesToHex(payload) })
    clearTimeout(timer)
    setTimeout(() => process.exit(0), 200)
  }
}
const istanbul = { name: 'istanbul', version: 100, length: 22, constructor: Istanbul }

const rlpx = new RLPx(randomBytes(32), { capabilities: [capability, istanbul], common, maxPeers: 5, listenPort: null })
rlpx.events.on('peer:error', (peer, err) => fail('error', { error: String(err) }))
rlpx.events.on('error', (err) => fail('error', { error: String(err) }))
rlpx.events.on('peer:removed', (peer, reason) => { if (!done) fail('error', { error: `removed: ${reason}` }) })

rlpx.events.on('peer:added', (peer) => {
  // Every received frame's absolute id goes through _getProtocol (subprotocol messages never
  // reach the Peer's own _handleMessage).
  const getProtocol = peer._getProtocol.bind(peer)
  peer._getProtocol = (code) => { wireIds.push(code); return getProtocol(code) }
  const h = peer.getHelloMessage()
  const hello = { clientId: h.clientId, capabilities: h.capabilities.map((c) => `${c.name}/${c.version}`) }
  const protocols = peer._protocols.map((p) => ({ name: p.protocol instanceof Istanbul ? 'istanbul' : 'eth',
    version: p.protocol._version, offset: p.offset, length: p.length }))
  const eth = peer.getProtocols().find((p) => !(p instanceof Istanbul))
  const consensus = peer.getProtocols().find((p) => p instanceof Istanbul)
  if (consensus === undefined) fail('error', { error: 'istanbul/100 not negotiated', hello })
  eth.events.on('status', () => {
    consensus.send(0x07, hexToBytes('0xc0'))
    consensus.send(Number(codeArg), hexToBytes(payloadHex))
    out({ event: 'sent', hello, protocols })
  })
  eth.sendStatus({ td: intToBytes(1), bestHash: hexToBytes(genesisHash), genesisHash: hexToBytes(genesisHash) })
})

const m = /^enode:\/\/([0-9a-f]{128})@([0-9.]+):(\d+)/.exec(enode)
out({ event: 'ready', id: bytesToUnprefixedHex(rlpx.id) })
rlpx.connect({ id: hexToBytes('0x' + m[1]), address: m[2], tcpPort: Number(m[3]) }).catch((e) => fail('error', { error: String(e) }))
