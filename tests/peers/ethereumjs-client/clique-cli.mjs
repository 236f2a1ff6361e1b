// @ethereumjs/client 0.10.5's own CLI (bin/cli.js), with the one option its sync leaves out on
// clique chains: the EVM's `cliqueSigner` (on clique, COINBASE and the fees go to the block's
// signer, as in geth). Without it, executing any clique block that runs EVM code fails with "Must
// include cliqueSigner function if clique/poa is being used for consensus type": its miner
// passes the option, its VMExecution does not. The function given is @ethereumjs/block's own.
import { cliqueSigner } from '@ethereumjs/block';
import { VMExecution } from '@ethereumjs/client/dist/esm/src/execution/vmexecution.js';

const setupMerkleVM = VMExecution.prototype.setupMerkleVM;
VMExecution.prototype.setupMerkleVM = async function () {
  await setupMerkleVM.call(this);
  // vm.shallowCopy() (eth_call, eth_getBalance) copies these options too.
  this.merkleVM.evm._optsCached.cliqueSigner ??= cliqueSigner;
};

await import('@ethereumjs/client/dist/esm/bin/cli.js');
