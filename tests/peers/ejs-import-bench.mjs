// EthereumJS imports a chain as an EthereumJS node does, for the wall-clock comparison in
// Cachet's execute bench (crates/node/benches/execute.rs): each block is validated and stored
// by @ethereumjs/blockchain (clique seal and signer, difficulty, gas limit, base fee,
// timestamps, transactions trie) and executed by @ethereumjs/vm's runBlock, which checks the
// state root, receipts trie, logs bloom and gas used against the header.
//
//   node ejs-import-bench.mjs DIR
//
// DIR holds genesis.json (geth format) and chain.rlp (blocks 1.. concatenated, geth `export`
// format). Prints one JSON line: {blocks, txs, gas, importSeconds, totalSeconds, head}.
// importSeconds is the import loop (decode, putBlock, runBlock); totalSeconds adds reading the
// files, the genesis state and the VM setup.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { cliqueSigner, createBlockFromBytesArray } from '@ethereumjs/block'
import { CliqueConsensus, createBlockchain } from '@ethereumjs/blockchain'
import { createCommonFromGethGenesis, parseGethGenesisState } from '@ethereumjs/common'
import { RLP } from '@ethereumjs/rlp'
import { bytesToHex } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'

const start = performance.now()
const [dir] = process.argv.slice(2)
if (dir === undefined) throw new Error('usage: node ejs-import-bench.mjs DIR')
const genesis = JSON.parse(readFileSync(join(dir, 'genesis.json'), 'utf8'))
const file = new Uint8Array(readFileSync(join(dir, 'chain.rlp')))

const common = createCommonFromGethGenesis(genesis, { chain: 'cachet-bench' })
const state = parseGethGenesisState(genesis)
const blockchain = await createBlockchain({
  common,
  genesisState: state,
  validateConsensus: true,
  validateBlocks: true,
  consensusDict: { clique: new CliqueConsensus() },
})
// The EVM's cliqueSigner makes the seal's signer the fee recipient and COINBASE (geth's clique
// Author).
const vm = await createVM({
  common, setHardfork: true, evmOpts: { cliqueSigner: (header) => cliqueSigner(header) },
})
await vm.stateManager.generateCanonicalGenesis(state)
const genesisRoot = bytesToHex(await vm.stateManager.getStateRoot())
if (genesisRoot !== bytesToHex(blockchain.genesisBlock.header.stateRoot)) {
  throw new Error(`VM genesis root ${genesisRoot} != blockchain's`)
}

// Decoding the file is part of an import (Cachet's bench times it too).
const importStart = performance.now()
let rest = file
let blocks = 0
let txs = 0
let gas = 0n
let head
while (rest.length > 0) {
  const { data, remainder } = RLP.decode(rest, true)
  rest = remainder
  const block = createBlockFromBytesArray(data, { common, setHardfork: true })
  await blockchain.putBlock(block)
  await runBlock(vm, { block, skipHeaderValidation: true })
  blocks += 1
  txs += block.transactions.length
  gas += block.header.gasUsed
  head = block
}
const end = performance.now()
const canonical = await blockchain.getCanonicalHeadBlock()
if (head !== undefined && bytesToHex(canonical.hash()) !== bytesToHex(head.hash())) {
  throw new Error('the last block imported is not the canonical head')
}
console.log(JSON.stringify({
  blocks,
  txs,
  gas: gas.toString(),
  importSeconds: (end - importStart) / 1000,
  totalSeconds: (end - start) / 1000,
  head: head === undefined ? null : bytesToHex(head.hash()),
}))
