// Builds a clique chain with transactions with EthereumJS's own VM (@ethereumjs/vm buildBlock,
// sealed with blockOpts.cliqueSigner; the EVM's cliqueSigner makes COINBASE the signer, as geth's
// clique Author) for Cachet's import and sync interop tests, and checks every block with
// @ethereumjs/blockchain's clique consensus and block validation before writing it.
//
//   node build-tx-chain.mjs OUTDIR [LONDON_BLOCK]
//
// LONDON_BLOCK (default 0) is the genesis londonBlock; blocks before it run Berlin rules.
// Writes into OUTDIR:
//   genesis.json   geth format (clique, chain id 1337, fixed test keys funded)
//   chain.rlp      blocks 1.. concatenated (geth `export` format)
//   bad-FIELD.rlp  the same blocks, the last one's FIELD (stateRoot, receiptTrie, logsBloom,
//                  gasUsed) altered and the header re-sealed: only execution tells it is wrong
//   expected.json  {chainId, signer, londonBlock, genesisHash, genesisHeader, accounts: {addr: {balance, nonce}},
//                   storage: {addr: {slot: value}}, code: {addr: hex}, blocks: [{number, hash, parentHash, stateRoot,
//                   receiptsRoot, logsBloom, gasUsed, gasLimit, timestamp, difficulty, baseFeePerGas,
//                   extraData, txs: [raw], receipts: [{status, cumulativeGasUsed, gasUsed, logs (count), txHash,
//                   from, to, nonce, contractAddress, logsBloom, logEntries: [{address, topics, data}],
//                   tx (EthereumJS's toJSON), amountSpent (wei paid for gas)}]}]}
// The blocks carry legacy transfers without and with EIP-155, EIP-2930 and EIP-1559 transfers, a
// contract deployment whose constructor stores a value and emits a log, calls that store and emit
// logs, a call that reverts, an out-of-gas creation, and an empty block.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { cliqueSigner, createSealedCliqueBlock, genTransactionsTrieRoot } from '@ethereumjs/block'
import { CliqueConsensus, createBlockchain } from '@ethereumjs/blockchain'
import { createCommonFromGethGenesis, createCustomCommon, Hardfork, Mainnet, parseGethGenesisState } from '@ethereumjs/common'
import {
  createAccessList2930Tx, createFeeMarket1559Tx, createLegacyTx, createTxFromRLP,
} from '@ethereumjs/tx'
import { bytesToHex, concatBytes, createAddressFromString, hexToBytes, privateToAddress, setLengthLeft } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'

const [outDir, londonArg] = process.argv.slice(2)
if (outDir === undefined) throw new Error('usage: node build-tx-chain.mjs OUTDIR [LONDON_BLOCK]')
const londonBlock = Number(londonArg ?? 0)
const CHAIN_ID = 1337n
const GWEI = 1_000_000_000n
const ETHER = GWEI * GWEI

// Fixed test keys (never funded anywhere real).
const key = (byte) => hexToBytes('0x' + byte.repeat(32))
const SIGNER_KEY = key('51')
const KEYS = { a: key('a1'), b: key('b2'), c: key('c3') }
const addr = (k) => bytesToHex(privateToAddress(k))
const SIGNER = addr(SIGNER_KEY)
const A = addr(KEYS.a), B = addr(KEYS.b), C = addr(KEYS.c)
const FRESH = '0x' + 'fe'.repeat(20) // receives value, never sends

const GENESIS_TIME = 1_700_000_000
const PERIOD = 5
const genesis = {
  config: {
    chainId: Number(CHAIN_ID), homesteadBlock: 0, eip150Block: 0, eip155Block: 0, eip158Block: 0,
    byzantiumBlock: 0, constantinopleBlock: 0, petersburgBlock: 0, istanbulBlock: 0, berlinBlock: 0,
    londonBlock, clique: { period: PERIOD, epoch: 30000 },
  },
  nonce: '0x0',
  timestamp: '0x' + GENESIS_TIME.toString(16),
  extraData: '0x' + '00'.repeat(32) + SIGNER.slice(2) + '00'.repeat(65),
  gasLimit: '0x1c9c380',
  difficulty: '0x1',
  mixHash: '0x' + '00'.repeat(32),
  coinbase: '0x' + '00'.repeat(20),
  alloc: {
    [A.slice(2)]: { balance: '0x' + (100n * ETHER).toString(16) },
    [B.slice(2)]: { balance: '0x' + (100n * ETHER).toString(16) },
    [C.slice(2)]: { balance: '0x' + (100n * ETHER).toString(16), nonce: '0x5' },
    // A pre-deployed contract with storage: its slot 0 is overwritten by block 3's call.
    ['00000000000000000000000000000000000c0de0']: {
      balance: '0x0', code: '0x60016000540160005500', // slot0 += 1
      storage: { ['0x' + '00'.repeat(32)]: '0x' + '00'.repeat(31) + '07' },
    },
  },
}

const common = createCommonFromGethGenesis(genesis, { chain: 'cachet-tx-chain' })
const blockchain = await createBlockchain({
  common,
  genesisState: parseGethGenesisState(genesis),
  validateConsensus: true,
  validateBlocks: true,
  consensusDict: { clique: new CliqueConsensus() },
})
const genesisBlock = blockchain.genesisBlock
// The builder's VM and a verifier VM that re-executes each sealed block. The EVM's cliqueSigner
// makes COINBASE the seal's signer.
// BLOCKHASH reads the chain the blocks are put into.
const newVM = async () => {
  const v = await createVM({
    common, blockchain, setHardfork: true, evmOpts: { cliqueSigner: (header) => cliqueSigner(header) },
  })
  await v.stateManager.generateCanonicalGenesis(parseGethGenesisState(genesis))
  return v
}
const vm = await newVM()
const verifier = await newVM()
const genesisRoot = await vm.stateManager.getStateRoot()
if (bytesToHex(genesisRoot) !== bytesToHex(genesisBlock.header.stateRoot)) {
  throw new Error(`VM genesis root ${bytesToHex(genesisRoot)} != blockchain's ${bytesToHex(genesisBlock.header.stateRoot)}`)
}

// EVM code assembled by hand (opcodes in comments).
// Runtime: no calldata -> revert with 0xdead; else slot1 = word0, slot2 = COINBASE,
// slot3 = BLOCKHASH(NUMBER - 1), and LOG2(data = word0, topics = [word0, CALLER]).
const runtime = hexToBytes('0x' + [
  '36', '15', '6024', '57', // CALLDATASIZE ISZERO PUSH1 0x24 JUMPI
  '600035', // PUSH1 0 CALLDATALOAD            -> v
  '80', '600155', // DUP1 PUSH1 1 SSTORE       slot1 = v
  '41', '600255', // COINBASE PUSH1 2 SSTORE   slot2 = coinbase
  '6001', '43', '03', '40', '600355', // PUSH1 1 NUMBER SUB BLOCKHASH PUSH1 3 SSTORE
  '80', '600052', // DUP1 PUSH1 0 MSTORE       mem[0..32] = v
  '33', '90', // CALLER SWAP1                   -> caller v
  '6020', '6000', 'a2', // PUSH1 32 PUSH1 0 LOG2
  '00', // STOP
  '5b', '61dead', '600052', '6002', '601e', 'fd', // 0x24: JUMPDEST mstore(0, 0xdead) REVERT(30, 2)
].join(''))
if (runtime[0x24] !== 0x5b) throw new Error('runtime jump target moved')
// Constructor: slot0 = 42, LOG1(data = empty, topic = 42), return the runtime.
const ctorHead = '602a600055' + '602a60006000a1' // PUSH1 42 PUSH1 0 SSTORE; PUSH1 42 PUSH1 0 PUSH1 0 LOG1
const ctorLen = ctorHead.length / 2 + 8 + 3
const hex1 = (n) => n.toString(16).padStart(2, '0')
const initCode = concatBytes(
  hexToBytes('0x' + ctorHead + '60' + hex1(runtime.length) + '80' + '60' + hex1(ctorLen) + '6000' + '39' + '6000f3'),
  runtime,
) // ... PUSH1 len DUP1 PUSH1 off PUSH1 0 CODECOPY PUSH1 0 RETURN
if (initCode.length !== ctorLen + runtime.length) throw new Error('constructor length')
const LOOP = hexToBytes('0x5b600056') // JUMPDEST PUSH1 0 JUMP: runs out of gas

const nonces = { a: 0n, b: 0n, c: 5n }
const senderOf = (k) => Object.keys(KEYS).find((n) => KEYS[n] === k)
// A signed tx for block `number` (its fork decides which types exist).
function tx(kind, k, fields, number) {
  const name = senderOf(k)
  const nonce = nonces[name]++
  const base = { nonce, gasLimit: 21000n, value: 0n, data: '0x', ...fields }
  const london = number >= londonBlock
  const price = london ? 3n * GWEI : GWEI
  let signed
  if (kind === 'legacy-unprotected') {
    // Signed under pre-EIP-155 rules: v = 27/28, no chain id.
    const old = createCustomCommon({ chainId: Number(CHAIN_ID) }, Mainnet, { hardfork: Hardfork.TangerineWhistle })
    signed = createLegacyTx({ gasPrice: price, ...base }, { common: old }).sign(k)
    if (signed.supports(155)) throw new Error('legacy tx was EIP-155 protected')
  } else if (kind === 'legacy') {
    signed = createLegacyTx({ gasPrice: price, ...base }, { common }).sign(k)
  } else if (kind === '2930') {
    signed = createAccessList2930Tx({ chainId: CHAIN_ID, gasPrice: price, ...base }, { common }).sign(k)
  } else if (kind === '1559') {
    signed = createFeeMarket1559Tx({ chainId: CHAIN_ID, maxFeePerGas: 5n * GWEI, maxPriorityFeePerGas: 2n * GWEI, ...base }, { common }).sign(k)
  } else {
    throw new Error(kind)
  }
  // Round-trip through the wire bytes under the chain's rules.
  return createTxFromRLP(signed.serialize(), { common })
}

const word = (n) => setLengthLeft(hexToBytes('0x' + n.toString(16).padStart(2, '0')), 32)

// Blocks: each a function of its number returning its txs (`deployed` is set by block 2).
let deployed
const plan = [
  (n) => [
    tx('legacy-unprotected', KEYS.a, { to: B, value: 1n * ETHER }, n),
    tx('legacy', KEYS.a, { to: C, value: 2n * ETHER }, n),
    tx('2930', KEYS.b, {
      to: A, value: 3n * ETHER, gasLimit: 30000n,
      accessList: [{ address: '0x00000000000000000000000000000000000c0de0', storageKeys: ['0x' + '00'.repeat(32)] }],
    }, n),
    tx('legacy', KEYS.c, { to: FRESH, value: 12345n }, n),
  ],
  (n) => [
    tx('legacy', KEYS.a, { to: undefined, data: initCode, gasLimit: 300000n }, n),
    tx(n >= londonBlock ? '1559' : '2930', KEYS.c, { to: B, value: 5n * ETHER }, n),
  ],
  (n) => [
    tx(n >= londonBlock ? '1559' : 'legacy', KEYS.b, { to: deployed, data: word(0x77), gasLimit: 100000n }, n),
    tx('legacy', KEYS.c, { to: deployed, data: word(0x99), gasLimit: 100000n }, n),
    tx('2930', KEYS.a, { to: deployed, data: '0x', gasLimit: 60000n }, n), // reverts
    tx('legacy', KEYS.b, { to: undefined, data: LOOP, gasLimit: 100000n }, n), // out of gas
    tx('legacy', KEYS.c, { to: '0x00000000000000000000000000000000000c0de0', gasLimit: 50000n }, n),
  ],
  () => [],
  (n) => [
    tx(n >= londonBlock ? '1559' : 'legacy', KEYS.a, { to: FRESH, value: 7n }, n),
    tx('legacy-unprotected', KEYS.b, { to: deployed, data: word(0x55), gasLimit: 100000n }, n),
    tx('2930', KEYS.c, { to: deployed, data: word(0x66), gasLimit: 100000n, accessList: [] }, n),
    n >= londonBlock
      ? tx('1559', KEYS.b, { to: A, value: 1n, maxPriorityFeePerGas: 0n }, n) // no tip: the signer gets nothing
      : tx('legacy', KEYS.b, { to: A, value: 1n }, n),
  ],
]

const blocks = []
const rlps = []
let parent = genesisBlock
for (const [i, txsOf] of plan.entries()) {
  const number = BigInt(i + 1)
  common.setHardforkBy({ blockNumber: number })
  const txs = txsOf(Number(number))
  let gasLimit = parent.header.gasLimit
  let baseFeePerGas
  if (common.isActivatedEIP(1559)) {
    if (number === BigInt(londonBlock)) {
      // geth/EIP-1559: at the fork block the parent's limit counts twice (elasticity).
      gasLimit *= 2n
      baseFeePerGas = common.param('initialBaseFee')
    } else {
      baseFeePerGas = parent.header.calcNextBaseFee()
    }
  }
  const fields = {
    parentHash: parent.hash(), number, gasLimit, timestamp: BigInt(GENESIS_TIME + PERIOD * (i + 1)),
    difficulty: 2n, extraData: new Uint8Array(97), coinbase: '0x' + '00'.repeat(20),
    nonce: new Uint8Array(8), baseFeePerGas,
  }
  // Execution needs the author (fee recipient, COINBASE) = the seal's signer: run the txs in a
  // block sealed over provisional roots, then seal the block with the roots it produced.
  const provisional = createSealedCliqueBlock({ header: fields, transactions: txs }, SIGNER_KEY, { common })
  const run = await runBlock(vm, { block: provisional, generate: true, skipBlockValidation: true })
  const block = createSealedCliqueBlock({
    header: {
      ...fields, stateRoot: run.stateRoot, receiptTrie: run.receiptsRoot, logsBloom: run.logsBloom,
      gasUsed: run.gasUsed, transactionsTrie: await genTransactionsTrieRoot(txs),
    },
    transactions: txs,
  }, SIGNER_KEY, { common })
  const receipts = run.results.map((result, k) => {
    if (result.createdAddress !== undefined && result.execResult.exceptionError === undefined) {
      deployed = result.createdAddress.toString()
    }
    return {
      status: result.execResult.exceptionError === undefined ? 1 : 0,
      error: result.execResult.exceptionError?.error ?? null,
      gasUsed: result.totalGasSpent.toString(),
      cumulativeGasUsed: run.receipts[k].cumulativeBlockGasUsed.toString(),
      logs: run.receipts[k].logs.length,
      // For the JSON-RPC tests: the receipt as EthereumJS made it.
      txHash: bytesToHex(txs[k].hash()),
      tx: txs[k].toJSON(),
      amountSpent: result.amountSpent.toString(),
      from: txs[k].getSenderAddress().toString(),
      to: txs[k].to === undefined ? null : txs[k].to.toString(),
      nonce: txs[k].nonce.toString(),
      contractAddress: result.createdAddress === undefined ? null : result.createdAddress.toString(),
      logsBloom: bytesToHex(run.receipts[k].bitvector),
      logEntries: run.receipts[k].logs.map(([address, topics, data]) => ({
        address: bytesToHex(address), topics: topics.map((t) => bytesToHex(t)), data: bytesToHex(data),
      })),
    }
  })
  // Independent of the builder: EthereumJS's chain validation (clique seal, difficulty, gas limit,
  // base fee, timestamps, tx trie) and a second VM executing the sealed block, checking stateRoot,
  // receiptTrie, logsBloom and gasUsed as an importing EthereumJS node does.
  await blockchain.putBlock(block)
  await runBlock(verifier, { block, skipHeaderValidation: true })
  const signer = cliqueSigner(block.header).toString()
  if (signer !== SIGNER) throw new Error(`block ${number} signed by ${signer}`)
  const h = block.header
  blocks.push({
    number: Number(h.number), hash: bytesToHex(block.hash()), parentHash: bytesToHex(h.parentHash),
    stateRoot: bytesToHex(h.stateRoot), receiptsRoot: bytesToHex(h.receiptTrie),
    transactionsRoot: bytesToHex(h.transactionsTrie), logsBloom: bytesToHex(h.logsBloom),
    gasUsed: Number(h.gasUsed), gasLimit: Number(h.gasLimit), timestamp: Number(h.timestamp),
    difficulty: Number(h.difficulty), baseFeePerGas: h.baseFeePerGas === undefined ? null : h.baseFeePerGas.toString(),
    hardfork: common.hardfork(), extraData: bytesToHex(h.extraData), header: bytesToHex(h.serialize()), signer,
    txs: block.transactions.map((t) => bytesToHex(t.serialize())),
    txTypes: block.transactions.map((t) => t.type),
    receipts,
  })
  rlps.push(block.serialize())
  parent = block
}

// Final state of the accounts the txs touched (EthereumJS's view, for balance checks).
const accounts = {}
for (const a of [A, B, C, FRESH, SIGNER, deployed, '0x00000000000000000000000000000000000c0de0']) {
  const acc = await vm.stateManager.getAccount(createAddressFromString(a))
  accounts[a] = acc === undefined ? null : { balance: acc.balance.toString(), nonce: acc.nonce.toString() }
}
const storage = {}
for (const [a, slots] of [[deployed, [0, 1, 2, 3]], ['0x00000000000000000000000000000000000c0de0', [0]]]) {
  storage[a] = {}
  for (const s of slots) {
    const v = await vm.stateManager.getStorage(createAddressFromString(a), setLengthLeft(hexToBytes('0x0' + s), 32))
    storage[a][s] = bytesToHex(v)
  }
}

// The same chain with its last block's header lying about one execution result (re-sealed, so
// only execution can tell): bad-<field>.rlp, for a node's refusal tests.
const lastBlock = parent
const corrupt = {
  stateRoot: (h) => ({ stateRoot: flip(h.stateRoot) }),
  receiptTrie: (h) => ({ receiptTrie: flip(h.receiptTrie) }),
  logsBloom: (h) => ({ logsBloom: flip(h.logsBloom) }),
  gasUsed: (h) => ({ gasUsed: h.gasUsed + 1n }),
}
function flip(bytes) {
  const copy = Uint8Array.from(bytes)
  copy[copy.length - 1] ^= 1
  return copy
}
const bad = {}
for (const [field, change] of Object.entries(corrupt)) {
  const h = lastBlock.header
  const block = createSealedCliqueBlock({
    header: { ...h.toJSON(), extraData: new Uint8Array(97), ...change(h) },
    transactions: lastBlock.transactions,
  }, SIGNER_KEY, { common })
  if (cliqueSigner(block.header).toString() !== SIGNER) throw new Error(`bad-${field} not sealed by the signer`)
  bad[field] = concatBytes(...rlps.slice(0, -1), block.serialize())
}

const code = { [deployed]: bytesToHex(await vm.stateManager.getCode(createAddressFromString(deployed))) }

mkdirSync(outDir, { recursive: true })
for (const [field, bytes] of Object.entries(bad)) writeFileSync(join(outDir, `bad-${field}.rlp`), bytes)
writeFileSync(join(outDir, 'genesis.json'), JSON.stringify(genesis, null, 2) + '\n')
writeFileSync(join(outDir, 'chain.rlp'), concatBytes(...rlps))
writeFileSync(join(outDir, 'expected.json'), JSON.stringify({
  chainId: Number(CHAIN_ID), signer: SIGNER, londonBlock, contract: deployed,
  genesisHash: bytesToHex(genesisBlock.hash()), genesisHeader: bytesToHex(genesisBlock.header.serialize()),
  genesisStateRoot: bytesToHex(genesisBlock.header.stateRoot),
  accounts, storage, code, blocks,
}, null, 2) + '\n')
console.log(JSON.stringify({ blocks: blocks.length, txs: blocks.reduce((n, b) => n + b.txs.length, 0), head: blocks.at(-1).hash }))
