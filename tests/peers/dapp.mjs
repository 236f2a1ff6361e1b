// A dapp developer's session against a Cachet node, with ethers (npm) and solc (npm):
// compile and deploy an ERC-20, transfer, read balances, read `Transfer` events with
// eth_getLogs and a `logs` subscription, get a revert reason, send many transactions from
// several accounts concurrently, and send one through the node's wallet (eth_sendTransaction).
//
// Usage: node dapp.mjs <http-url> <ws-url|-> <wallet-address> <key1,key2,...> <count-per-key>
// ('-' for no WebSocket: the logs subscription is then skipped). Prints one JSON object with
// what it saw; bin/cachet/tests/it/dapp.rs checks every field.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';
import { ethers } from 'ethers';

const [httpUrl, wsUrl, walletAddress, keyList, perKeyArg] = process.argv.slice(2);
const perKey = Number(perKeyArg ?? '50');
const here = dirname(fileURLToPath(import.meta.url));

function compile() {
  const source = readFileSync(join(here, 'contracts/Token.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'Token.sol': { content: source } },
    // Cachet executes up to Shanghai and refuses Shanghai on PoA chains: london has no PUSH0.
    settings: { evmVersion: 'london', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } } },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  const c = out.contracts['Token.sol'].Token;
  return { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, deployed: '0x' + c.evm.deployedBytecode.object };
}

async function main() {
  const result = {};
  const provider = new ethers.JsonRpcProvider(httpUrl, undefined, { staticNetwork: true, pollingInterval: 200 });
  const keys = keyList.split(',');
  const wallets = keys.map((k) => new ethers.Wallet(k, provider));
  const { abi, bytecode, deployed } = compile();

  // Deploy.
  const factory = new ethers.ContractFactory(abi, bytecode, wallets[0]);
  const supply = 1_000_000n * 10n ** 18n;
  const token = await factory.deploy(supply);
  await token.waitForDeployment();
  result.token = await token.getAddress();
  result.deployReceiptStatus = (await token.deploymentTransaction().wait()).status;
  const code = await provider.getCode(result.token);
  result.codeLength = (code.length - 2) / 2;
  // The runtime code the constructor returned is what solc compiled (Token has no immutables).
  result.codeIsCompiled = code === deployed;

  // The logs subscription, opened before the transfer it must see. eth_subscribe is sent
  // directly (its answer means the subscription is live: no sleep), and the notifications are
  // read off the socket, as ethers' Contract.on subscribes in the background with no signal.
  let subscribed = null;
  let ws = null;
  const transferTopic = ethers.id('Transfer(address,address,uint256)');
  if (wsUrl && wsUrl !== '-') {
    ws = new ethers.WebSocketProvider(wsUrl, undefined, { staticNetwork: true });
    const id = await ws.send('eth_subscribe', ['logs', { address: result.token, topics: [transferTopic] }]);
    subscribed = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no Transfer event on the logs subscription in 60 s')), 60_000);
      ws.websocket.addEventListener('message', (event) => {
        const msg = JSON.parse(event.data);
        if (msg.method !== 'eth_subscription' || msg.params.subscription !== id) return;
        clearTimeout(timer);
        resolve(msg.params.result);
      });
    });
  }

  // Transfer and read balances.
  const t0 = token.connect(wallets[0]);
  const to = wallets[1].address;
  const tx = await t0.transfer(to, 1234n);
  const receipt = await tx.wait();
  result.transferStatus = receipt.status;
  result.transferLogs = receipt.logs.length;
  result.balanceTo = (await token.balanceOf(to)).toString();
  result.balanceFrom = (await token.balanceOf(wallets[0].address)).toString();
  result.balanceSupply = (await token.totalSupply()).toString();

  // eth_getLogs over the whole chain: the mint in the constructor, then the transfer.
  const logs = await provider.getLogs({
    address: result.token,
    topics: [transferTopic],
    fromBlock: 0,
    toBlock: 'latest',
  });
  result.getLogs = logs.map((l) => ({
    from: ethers.getAddress('0x' + l.topics[1].slice(26)),
    to: ethers.getAddress('0x' + l.topics[2].slice(26)),
    value: BigInt(l.data).toString(),
    txHash: l.transactionHash,
  }));
  result.deployTx = token.deploymentTransaction().hash;
  result.transferTx = receipt.hash;
  if (subscribed) {
    const l = await subscribed;
    result.subscribed = {
      from: ethers.getAddress('0x' + l.topics[1].slice(26)),
      to: ethers.getAddress('0x' + l.topics[2].slice(26)),
      value: BigInt(l.data).toString(),
      txHash: l.transactionHash,
      blockNumber: Number(l.blockNumber),
    };
    result.transferBlock = receipt.blockNumber;
  }

  // A revert reason from a failing call (wallets[2] holds no tokens), and from eth_estimateGas.
  const poor = token.connect(wallets[2]);
  try {
    await poor.transfer.staticCall(to, 1n);
    result.revert = null;
  } catch (e) {
    result.revert = e.reason ?? e.shortMessage ?? String(e);
    result.revertData = e.data ?? null;
  }
  try {
    await poor.transfer.estimateGas(to, 1n);
    result.estimateRevert = null;
  } catch (e) {
    result.estimateRevert = e.reason ?? e.shortMessage ?? String(e);
  }
  // Estimate gas for a transfer, then send it with exactly that limit: it must suffice.
  const estimate = await t0.transfer.estimateGas(to, 1n);
  const estimated = await (await t0.transfer(to, 1n, { gasLimit: estimate })).wait();
  result.estimate = {
    gas: estimate.toString(),
    status: estimated.status,
    gasUsed: estimated.gasUsed.toString(),
  };
  result.balanceToAfter = (await token.balanceOf(to)).toString();

  // Many transactions from several accounts at once, nonces assigned by the sender.
  const started = Date.now();
  const noncesBefore = await Promise.all(wallets.map((w) => provider.getTransactionCount(w.address, 'pending')));
  const sends = [];
  wallets.forEach((w, k) => {
    for (let i = 0; i < perKey; i++) {
      sends.push(w.sendTransaction({ to: walletAddress, value: 1n, nonce: noncesBefore[k] + i, gasLimit: 21000 }));
    }
  });
  const sent = await Promise.all(sends);
  const receipts = await Promise.all(sent.map((s) => s.wait()));
  // Each sender's transactions are mined in nonce order (block, then index in the block).
  const ordered = wallets.map((w) => {
    const mine = sent
      .map((s, i) => ({ nonce: s.nonce, at: [receipts[i].blockNumber, receipts[i].index] }))
      .filter((_, i) => sent[i].from === w.address)
      .sort((a, b) => a.nonce - b.nonce);
    return mine.every((m, i) => i === 0 || m.at[0] > mine[i - 1].at[0] || (m.at[0] === mine[i - 1].at[0] && m.at[1] > mine[i - 1].at[1]));
  });
  result.bulk = {
    sent: sent.length,
    mined: receipts.filter((r) => r && r.status === 1).length,
    distinct: new Set(receipts.map((r) => r.hash)).size,
    blocks: new Set(receipts.map((r) => r.blockNumber)).size,
    seconds: (Date.now() - started) / 1000,
    noncesBefore,
    nonces: await Promise.all(wallets.map((w) => provider.getTransactionCount(w.address, 'latest'))),
    ordered,
  };

  // The node's own wallet signs (eth_sendTransaction): ethers' JsonRpcSigner fills nothing in.
  const signer = await provider.getSigner(walletAddress);
  const before = await provider.getBalance(wallets[3].address);
  const fromWallet = await signer.sendTransaction({ to: wallets[3].address, value: 5n });
  const walletReceipt = await fromWallet.wait();
  result.walletTx = {
    status: walletReceipt.status,
    from: walletReceipt.from,
    received: ((await provider.getBalance(wallets[3].address)) - before).toString(),
  };
  result.head = await provider.getBlockNumber();

  if (ws) await ws.destroy();
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
