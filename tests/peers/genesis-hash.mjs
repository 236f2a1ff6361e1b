// Computes the genesis block hash and state root of geth-format genesis files with EthereumJS
// (@ethereumjs/common createCommonFromGethGenesis, @ethereumjs/blockchain genesis state root,
// @ethereumjs/block header) and prints them as JSON: [{file, hash, stateRoot, headerRlp}].
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
  out.push({
    file: basename(file),
    hash: bytesToHex(header.hash()),
    stateRoot: bytesToHex(header.stateRoot),
    headerRlp: bytesToHex(header.serialize()),
  })
}
console.log(JSON.stringify(out))
