// Computes the genesis block hash and state root of geth-format genesis files with EthereumJS
// (@ethereumjs/common createCommonFromGethGenesis, @ethereumjs/blockchain genesis state root,
// @ethereumjs/block header) and the EIP-2124 fork id at each scheduled hardfork
// (@ethereumjs/common forkHash / nextHardforkBlockOrTimestamp), and prints them as JSON:
// [{file, hash, stateRoot, headerRlp, forkIds: [{hardfork, block, timestamp, hash, next}]}].
// Usage: node genesis-hash.mjs FILE...
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'

import { createBlockchain } from '@ethereumjs/blockchain'
import { createCommonFromGethGenesis, parseGethGenesisState } from '@ethereumjs/common'
import { bytesToHex } from '@ethereumjs/util'

const out = []
for (const file of process.argv.slice(2)) {
  const json = JSON.parse(readFileSync(file, 'utf8'))
  const common = createCommonFromGethGenesis(json, { chain: basename(file, '.json') })
  const blockchain = await createBlockchain({
    common,
    genesisState: parseGethGenesisState(json),
    validateConsensus: false,
    validateBlocks: false,
  })
  const header = blockchain.genesisBlock.header
  const forkIds = []
  for (const hf of common.hardforks()) {
    if (hf.block === null && hf.timestamp === undefined) continue
    const next = common.nextHardforkBlockOrTimestamp(hf.name)
    forkIds.push({
      hardfork: hf.name,
      block: hf.block === null ? null : Number(hf.block),
      timestamp: hf.timestamp === undefined ? null : Number(hf.timestamp),
      hash: common.forkHash(hf.name, header.hash()),
      next: next === null ? 0 : Number(next),
    })
  }
  out.push({
    file: basename(file),
    hash: bytesToHex(header.hash()),
    stateRoot: bytesToHex(header.stateRoot),
    headerRlp: bytesToHex(header.serialize()),
    forkIds,
  })
}
console.log(JSON.stringify(out))
