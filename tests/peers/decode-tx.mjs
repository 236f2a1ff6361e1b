// Decodes signed transactions with EthereumJS (@ethereumjs/tx createTxFromRLP on a Common whose
// chain id is given), verifies each signature and prints what EthereumJS sees as JSON:
// [{raw, ok, error?, type, chainId, sender, hash, signatureValid, fields: tx.toJSON()}].
// A legacy transaction is checked against EIP-155 with that chain id.
// Usage: node decode-tx.mjs CHAIN_ID 0xRAW...
import { createCustomCommon, Hardfork, Mainnet } from '@ethereumjs/common'
import { createTxFromRLP } from '@ethereumjs/tx'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'

const chainId = Number(process.argv[2])
const common = createCustomCommon({ chainId }, Mainnet, { hardfork: Hardfork.Prague })
const out = []
for (const raw of process.argv.slice(3)) {
  try {
    const tx = createTxFromRLP(hexToBytes(raw), { common })
    out.push({
      raw,
      ok: true,
      type: tx.type,
      chainId: tx.common.chainId().toString(),
      eip155: tx.type === 0 ? tx.supports(155) : null,
      sender: tx.getSenderAddress().toString(),
      hash: bytesToHex(tx.hash()),
      signatureValid: tx.verifySignature(),
      fields: tx.toJSON(),
    })
  } catch (e) {
    out.push({ raw, ok: false, error: String(e) })
  }
}
console.log(JSON.stringify(out))
