// @chainsafe/discv5 10.0.1 against a Cachet discv5 node (sigp discv5 0.12), both directions.
// argv[2]: JSON {key, port, cachetEnr}
// Prints JSON lines: {"event":"ready","enr","nodeId"}, {"event":"cachet-enr", …decoded fields},
// {"event":"pong","enrSeq"} (its ping to Cachet); then serves until stdin closes.
import { Discv5 } from '@chainsafe/discv5'
import { ENR, SignableENR } from '@chainsafe/enr'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { RLP } from '@ethereumjs/rlp'

const cfg = JSON.parse(process.argv[2])
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const hex = (b) => Buffer.from(b).toString('hex')

const privateKey = privateKeyFromRaw(Buffer.from(cfg.key, 'hex'))
const enr = SignableENR.createFromPrivateKey(privateKey)
enr.ip = '127.0.0.1'
enr.udp = cfg.port
const discv5 = Discv5.create({
  enr,
  privateKey,
  bindAddrs: { ip4: multiaddr(`/ip4/127.0.0.1/udp/${cfg.port}`) },
  config: { enrUpdate: false },
})
await discv5.start()
out({ event: 'ready', enr: discv5.enr.encodeTxt(), nodeId: discv5.enr.nodeId })

const cachet = ENR.decodeTxt(cfg.cachetEnr)
// @chainsafe/enr flattens list values, so read the raw `eth` entry with @ethereumjs/rlp.
const fields = RLP.decode(Buffer.from(cfg.cachetEnr.slice(4), 'base64url'))
let eth = null
for (let i = 2; i + 1 < fields.length; i += 2) {
  if (Buffer.from(fields[i]).toString() === 'eth') eth = RLP.encode(fields[i + 1])
}
out({
  event: 'cachet-enr',
  nodeId: cachet.nodeId,
  seq: cachet.seq.toString(),
  ip: cachet.ip,
  udp: cachet.udp,
  tcp: cachet.tcp,
  eth: eth ? hex(eth) : null,
  publicKey: hex(cachet.publicKey),
})
discv5.addEnr(cachet)
try {
  const pong = await discv5.sendPing(cachet)
  out({ event: 'pong', enrSeq: pong.enrSeq.toString() })
} catch (e) {
  out({ event: 'ping-failed', message: String(e) })
}

process.stdin.resume()
process.stdin.on('end', async () => {
  await discv5.stop()
  process.exit(0)
})
setTimeout(() => process.exit(3), 30_000)
