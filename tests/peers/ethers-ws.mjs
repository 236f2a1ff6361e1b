// A real dapp client on a Cachet devnet's WebSocket: ethers v6's WebSocketProvider, whose
// "block", "pending" and filter events are eth_subscribe newHeads / newPendingTransactions / logs.
// Usage: node ethers-ws.mjs <ws url> <wallet address>
// Deploys a contract that emits LOG1(topic 0x70…70, data 0x…2a) on any call, through the node's
// wallet (eth_sendTransaction over the same socket), calls it, and prints JSON:
// {blocks, pending, contract, deployHash, callHash, log}.
import { WebSocketProvider } from "ethers";

const [url, wallet] = process.argv.slice(2);
const TOPIC = "0x" + "70".repeat(32);
// Runtime: PUSH1 2a PUSH1 00 MSTORE PUSH32 TOPIC PUSH1 20 PUSH1 00 LOG1 STOP (44 bytes).
const runtime = "602a6000527f" + "70".repeat(32) + "60206000a100";
// Init: PUSH1 2c DUP1 PUSH1 0b PUSH1 00 CODECOPY PUSH1 00 RETURN, then the runtime.
const init = "0x602c80600b6000396000f3" + runtime;

// A deadline that does not keep the process alive once the answer is in (unref).
const within = (ms, what, p) =>
  Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`timed out: ${what}`)), ms).unref())]);

const provider = new WebSocketProvider(url);
const blocks = [];
const pending = [];
let sawTwoBlocks;
const twoBlocks = new Promise((ok) => (sawTwoBlocks = ok));
await provider.on("block", (n) => {
  blocks.push(n);
  if (blocks.length >= 2) sawTwoBlocks();
});
await provider.on("pending", (hash) => pending.push(hash));
// ethers' on() returns before the node has answered eth_subscribe, and the node serves a socket's
// calls concurrently: a transaction sent now may reach the pool before the subscription exists.
// A probe transaction seen as pending proves the subscription is live; everything after it counts.
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const live = async () => {
  for (let probe = 0; probe < 30; probe++) {
    const hash = await provider.send("eth_sendTransaction", [{ from: wallet, to: wallet, value: "0x0" }]);
    for (let i = 0; i < 40; i++) {
      if (pending.includes(hash)) return;
      await sleep(50);
    }
  }
  throw new Error("no probe transaction ever arrived on the newPendingTransactions subscription");
};
await live();

const deployHash = await provider.send("eth_sendTransaction", [{ from: wallet, data: init, gas: "0x30000" }]);
const deployed = await within(60000, "deploy receipt", provider.waitForTransaction(deployHash));
const contract = deployed.contractAddress;

let gotLog;
const logArrived = new Promise((ok) => (gotLog = ok));
await provider.on({ address: contract, topics: [TOPIC] }, (log) => gotLog(log));
const callHash = await provider.send("eth_sendTransaction", [{ from: wallet, to: contract, gas: "0x20000" }]);
const log = await within(60000, "log event", logArrived);
await within(60000, "two blocks", twoBlocks);

console.log(
  JSON.stringify({
    blocks,
    pending,
    contract,
    deployHash,
    callHash,
    log: {
      address: log.address,
      topics: log.topics,
      data: log.data,
      transactionHash: log.transactionHash,
      blockNumber: log.blockNumber,
      removed: log.removed,
    },
  }),
);
await provider.destroy();
