// A real wallet client signing through a Cachet node over JWT-authenticated JSON-RPC.
// Usage: node ethers-wallet.mjs <rpc url> <jwt secret file>
// ethers v6's JsonRpcProvider/JsonRpcSigner; the HS256 token is made here with node:crypto
// (iat = now, geth's engine-API convention), fresh for every request.
// Prints JSON: {address, message, signature, recovered, raw, from, txHash}.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { FetchRequest, JsonRpcProvider, Transaction, verifyMessage } from "ethers";

const [url, secretFile] = process.argv.slice(2);
const secret = Buffer.from(readFileSync(secretFile, "utf8").trim().replace(/^0x/, ""), "hex");
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
function jwt() {
  const signing = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ iat: Math.floor(Date.now() / 1000) })}`;
  return `${signing}.${createHmac("sha256", secret).update(signing).digest("base64url")}`;
}

const request = new FetchRequest(url);
request.preflightFunc = async (req) => {
  req.setHeader("Authorization", `Bearer ${jwt()}`);
  return req;
};
const provider = new JsonRpcProvider(request, undefined, { batchMaxCount: 1 });
const network = await provider.getNetwork();
const [account] = await provider.listAccounts();
const signer = await provider.getSigner(account.address);
const message = "cachet: signed through JSON-RPC by ethers";
const signature = await signer.signMessage(message); // personal_sign
const answer = await signer.signTransaction({
  to: "0x3535353535353535353535353535353535353535",
  value: 1n,
  gasLimit: 21000n,
  maxFeePerGas: 2_000_000_000n,
  maxPriorityFeePerGas: 1_000_000_000n,
  nonce: 0,
  chainId: network.chainId,
  type: 2,
}); // eth_signTransaction: geth's {raw, tx}
const raw = typeof answer === "string" ? answer : answer.raw;
const tx = Transaction.from(raw);
console.log(
  JSON.stringify({
    address: account.address,
    message,
    signature,
    recovered: verifyMessage(message, signature),
    raw,
    from: tx.from,
    txHash: tx.hash,
  }),
);
provider.destroy();
