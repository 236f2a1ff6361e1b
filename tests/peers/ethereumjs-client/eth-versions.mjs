// Preloaded into @ethereumjs/client (`node --import <this file>`, or NODE_OPTIONS) to restrict the
// eth versions it offers in Hello to CACHET_EJS_ETH_VERSIONS (comma-separated, e.g. "66").
// 0.10.5 hard-codes [66, 67, 68] (EthProtocol's `versions` getter, read when it builds its
// Hello capabilities) and has no option for it. ES modules are instances per resolved file, so
// the client's own import of this module sees the changed getter.
import { EthProtocol } from './node_modules/@ethereumjs/client/dist/esm/src/net/protocol/ethprotocol.js'

const versions = (process.env.CACHET_EJS_ETH_VERSIONS ?? '')
  .split(',')
  .filter((v) => v !== '')
  .map(Number)
if (versions.length > 0) {
  Object.defineProperty(EthProtocol.prototype, 'versions', { get: () => versions, configurable: true })
}
