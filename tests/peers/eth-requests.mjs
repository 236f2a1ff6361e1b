// An EthereumJS devp2p peer (@ethereumjs/devp2p) that offers ONE eth version and makes the
// request-id requests of eth/66+ against a Cachet node (Cachet's eth/66–67 interop tests).
//
//   node eth-requests.mjs <66|67|68> <genesis.json> <genesisHash 0x…> <enode://…> <count>
//
// It dials, exchanges Hello and Status on eth/<version> only, then:
//   1. GetBlockHeaders [id, [1, count, 0, 0]]   -> BlockHeaders [id, headers] (same id)
//   2. GetBlockBodies  [id, [hash₁ … hash_count]] -> BlockBodies [id, bodies] (same id)
//   3. eth/66 only: GetNodeData [id, [hash₁]]     -> NodeData [id, []] (same id, peer kept)
//   4. NewPooledTransactionHashes in the version's form for one random hash, and waits for the
//      GetPooledTransactions [id, [that hash]] Cachet sends back.
// and prints one JSON line: {"event":"done", "version", "hello", "status", "headers":[{number,
// hash, parentHash}], "bodies":[{transactions, uncles}], "nodeData", "pooledRequest"} (headers are
// decoded and hashed by @ethereumjs/block), or {"event":"error"|"timeout", …} and exits 1.
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { RLPx, ETH } from '@ethereumjs/devp2p'
import { createCommonFromGethGenesis } from '@ethereumjs/common'
import { createBlockHeaderFromBytesArray } from '@ethereumjs/block'
import { bytesToHex, bytesToInt, bytesToUnprefixedHex, hexToBytes, intToBytes } from '@ethereumjs/util'

const [version, genesisPath, genesisHash, enode, countArg] = process.argv.slice(2)
const capability = { 66: ETH.eth66, 67: ETH.eth67, 68: ETH.eth68 }[version]
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
if (capability === undefined) { out({ event: 'error', error: `unknown eth version ${version}` }); process.exit(2) }
const count = Number(countArg)
const genesis = JSON.parse(readFileSync(genesisPath, 'utf8'))
const common = createCommonFromGethGenesis(genesis, { chain: 'cachet-interop', genesisHash: hexToBytes(genesisHash) })
common.setHardforkBy({ blockNumber: 0n, timestamp: 0n })

const codes = { GET_BLOCK_HEADERS: 0x03, BLOCK_HEADERS: 0x04, GET_BLOCK_BODIES: 0x05, BLOCK_BODIES: 0x06,
  NEW_POOLED_TRANSACTION_HASHES: 0x08, GET_POOLED_TRANSACTIONS: 0x09, GET_NODE_DATA: 0x0d, NODE_DATA: 0x0e }
const result = { event: 'done', version: Number(version) }
const fail = (event, extra) => { out({ ...result, event, ...extra }); process.exit(1) }
const timer = setTimeout(() => fail('timeout', {}), 40000)

const rlpx = new RLPx(randomBytes(32), { capabilities: [capability], common, maxPeers: 5, listenPort: null })
rlpx.events.on('peer:error', (peer, err) => fail('error', { error: String(err) }))
rlpx.events.on('error', (err) => fail('error', { error: String(err) }))
rlpx.events.on('peer:removed', (peer, reason) => { if (result.pooledRequest === undefined) fail('error', { error: `removed: ${reason}` }) })

rlpx.events.on('peer:added', (peer) => {
  const h = peer.getHelloMessage()
  result.hello = { clientId: h.clientId, capabilities: h.capabilities.map((c) => `${c.name}/${c.version}`) }
  const eth = peer.getProtocols()[0]
  result.negotiated = eth.getVersion()
  // Request ids: random 8-byte values, so a response echoing a fixed or small id fails.
  const ids = {}
  const newId = (what) => { ids[what] = randomBytes(8); ids[what][0] |= 1; return ids[what] }
  const sameId = (what, got) => bytesToHex(got) === bytesToHex(ids[what])
  let hashes = []
  const announced = randomBytes(32)
  eth.events.on('status', (s) => {
    result.status = { networkId: bytesToHex(s.chainId), genesisHash: bytesToHex(s.genesisHash),
      forkHash: bytesToHex(s.forkId[0]), forkNext: bytesToHex(s.forkId[1]) }
    eth.sendMessage(codes.GET_BLOCK_HEADERS, [newId('headers'), [intToBytes(1), intToBytes(count), new Uint8Array(), new Uint8Array()]])
  })
  eth.events.on('message', (code, payload) => {
    if (code === codes.BLOCK_HEADERS) {
      if (!sameId('headers', payload[0])) fail('error', { error: 'BlockHeaders with another request id' })
      result.headers = payload[1].map((values) => {
        const header = createBlockHeaderFromBytesArray(values, { common, skipConsensusFormatValidation: true })
        return { number: Number(header.number), hash: bytesToHex(header.hash()), parentHash: bytesToHex(header.parentHash) }
      })
      hashes = result.headers.map((x) => hexToBytes(x.hash))
      eth.sendMessage(codes.GET_BLOCK_BODIES, [newId('bodies'), hashes])
    } else if (code === codes.BLOCK_BODIES) {
      if (!sameId('bodies', payload[0])) fail('error', { error: 'BlockBodies with another request id' })
      result.bodies = payload[1].map((b) => ({ transactions: b[0].length, uncles: b[1].length }))
      if (result.negotiated === 66) {
        eth.sendMessage(codes.GET_NODE_DATA, [newId('nodeData'), [hashes[0]]])
      } else {
        announce()
      }
    } else if (code === codes.NODE_DATA) {
      if (!sameId('nodeData', payload[0])) fail('error', { error: 'NodeData with another request id' })
      result.nodeData = payload[1].map(bytesToHex)
      announce()
    } else if (code === codes.GET_POOLED_TRANSACTIONS) {
      result.pooledRequest = { idBytes: payload[0].length, hashes: payload[1].map(bytesToHex), announced: bytesToHex(announced) }
      out(result)
      clearTimeout(timer)
      setTimeout(() => process.exit(0), 200)
    }
  })
  const announce = () => {
    // eth/66–67: [hash, …]; eth/68: [types, [size, …], [hash, …]] (EIP-5793).
    const body = result.negotiated >= 68 ? [new Uint8Array([2]), [intToBytes(120)], [announced]] : [announced]
    eth.sendMessage(codes.NEW_POOLED_TRANSACTION_HASHES, body)
  }
  eth.sendStatus({ td: intToBytes(1), bestHash: hexToBytes(genesisHash), genesisHash: hexToBytes(genesisHash) })
})

const m = /^enode:\/\/([0-9a-f]{128})@([0-9.]+):(\d+)/.exec(enode)
out({ event: 'ready', id: bytesToUnprefixedHex(rlpx.id) })
rlpx.connect({ id: hexToBytes('0x' + m[1]), address: m[2], tcpPort: Number(m[3]) }).catch((e) => fail('error', { error: String(e) }))
