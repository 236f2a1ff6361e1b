// EthereumJS DPT (discv4) against a Cachet node, both directions.
// argv[2]: JSON {key, port, cachet: {id, address, udpPort, tcpPort}, target}
// Prints JSON lines: {"event":"ready","id"}, then {"event":"pong","id"} (its ping to Cachet),
// {"event":"neighbours","from","nodes":[…]} (its findnode to Cachet), then serves until stdin
// closes, printing {"event":"ping","from"} / {"event":"findneighbours","from"} for Cachet's requests.
import { DPT, decode } from '@ethereumjs/devp2p'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'

const cfg = JSON.parse(process.argv[2])
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const hex = (b) => bytesToHex(b).slice(2)

const dpt = new DPT(hexToBytes('0x' + cfg.key), {
  endpoint: { address: '127.0.0.1', udpPort: cfg.port, tcpPort: cfg.port },
  shouldFindNeighbours: false,
  refreshInterval: 3_600_000,
  timeout: 2000,
})
dpt.events.on('error', (e) => out({ event: 'error', message: String(e) }))

// Observe every packet the DPT receives (its own handler drops node ids of neighbours).
const server = dpt._server
const handler = server._handler.bind(server)
server._handler = (msg, rinfo) => {
  try {
    const info = decode(msg)
    const from = hex(info.publicKey.length === 65 ? info.publicKey.slice(1) : info.publicKey)
    if (info.typename === 'neighbours') {
      out({
        event: 'neighbours',
        from,
        nodes: info.data.peers.map((p) => ({
          id: hex(p.id),
          address: p.endpoint.address,
          udpPort: p.endpoint.udpPort,
          tcpPort: p.endpoint.tcpPort,
        })),
      })
    } else if (info.typename === 'ping' || info.typename === 'findneighbours') {
      out({ event: info.typename, from })
    }
  } catch (e) {
    out({ event: 'decode-error', message: String(e) })
  }
  handler(msg, rinfo)
}

dpt.events.once('listening', async () => {
  out({ event: 'ready', id: hex(dpt.id) })
  const peer = await dpt.addPeer({
    address: cfg.cachet.address,
    udpPort: cfg.cachet.udpPort,
    tcpPort: cfg.cachet.tcpPort,
  })
  out({ event: 'pong', id: hex(peer.id) })
  // Let Cachet ping back and get our pong (its endpoint proof) before asking.
  await new Promise((r) => setTimeout(r, 700))
  server.findneighbours(peer, hexToBytes('0x' + cfg.target))
})
dpt.bind(cfg.port, '127.0.0.1')

process.stdin.resume()
process.stdin.on('end', () => {
  dpt.destroy()
  process.exit(0)
})
setTimeout(() => process.exit(3), 30_000)
