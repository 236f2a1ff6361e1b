// Independent clique checks with @ethereumjs/block (Cachet's seal tests).
// Usage:
//   node clique-peer.mjs recover HEX...   -> ["0x<signer>", ...] via cliqueSigner
//   node clique-peer.mjs seal N SEED      -> [{rlp, signer, london}]: N random headers sealed by
//                                            createSealedCliqueBlockHeader with throwaway keys
//   node clique-peer.mjs rlp-structure HEX... -> each input decoded by @ethereumjs/rlp
// Pre-London headers use a Berlin chain config, post-London (16+ items) a London one.
import { createBlockHeaderFromRLP, createSealedCliqueBlockHeader, cliqueSigner } from '@ethereumjs/block'
import { createCommonFromGethGenesis } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { bytesToHex, hexToBytes, privateToAddress } from '@ethereumjs/util'

function common(london) {
  const config = {
    chainId: 1337, homesteadBlock: 0, eip150Block: 0, eip155Block: 0, eip158Block: 0,
    byzantiumBlock: 0, constantinopleBlock: 0, petersburgBlock: 0, istanbulBlock: 0, berlinBlock: 0,
    clique: { period: 5, epoch: 30000 },
  }
  if (london) config.londonBlock = 0
  const genesis = {
    config, nonce: '0x0', timestamp: '0x0', gasLimit: '0x1000000', difficulty: '0x1',
    extraData: '0x' + '00'.repeat(32) + '11'.repeat(20) + '00'.repeat(65),
    mixHash: '0x' + '00'.repeat(32), coinbase: '0x' + '00'.repeat(20), alloc: {},
  }
  return createCommonFromGethGenesis(genesis, { chain: london ? 'london' : 'berlin', genesisHash: '0x' + '00'.repeat(32) })
}

// A small deterministic PRNG (mulberry32) so runs are reproducible from SEED.
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const [cmd, ...args] = process.argv.slice(2)
const out = []
if (cmd === 'recover') {
  for (const h of args) {
    const bytes = hexToBytes(h)
    const london = RLP.decode(bytes).length > 15
    const header = createBlockHeaderFromRLP(bytes, { common: common(london), skipConsensusFormatValidation: true })
    out.push(cliqueSigner(header).toString())
  }
} else if (cmd === 'seal') {
  const rand = rng(Number(args[1]))
  const bytes = (n) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256))
  for (let i = 0; i < Number(args[0]); i++) {
    const key = bytes(32)
    key[0] = 1
    const london = i % 2 === 1
    const data = {
      parentHash: bytes(32), coinbase: bytes(20), stateRoot: bytes(32), transactionsRoot: bytes(32),
      receiptTrie: bytes(32), logsBloom: bytes(256), difficulty: 1n + BigInt(i % 2),
      number: BigInt(1 + Math.floor(rand() * 1e9)), gasLimit: 8000000n, gasUsed: 0n,
      timestamp: BigInt(Math.floor(rand() * 1e9)), extraData: new Uint8Array(97),
      nonce: new Uint8Array(8),
    }
    if (london) data.baseFeePerGas = BigInt(Math.floor(rand() * 1e12))
    const header = createSealedCliqueBlockHeader(data, key, {
      common: common(london), freeze: false, skipConsensusFormatValidation: true,
    })
    out.push({ rlp: bytesToHex(header.serialize()), signer: bytesToHex(privateToAddress(key)), london })
  }
} else if (cmd === 'rlp-structure') {
  const structure = (x) => (x instanceof Uint8Array ? bytesToHex(x) : x.map(structure))
  for (const h of args) out.push(structure(RLP.decode(hexToBytes(h))))
} else {
  throw new Error(`unknown command ${cmd}`)
}
console.log(JSON.stringify(out))
