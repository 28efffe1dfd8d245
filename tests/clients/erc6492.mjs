// viem's verdict on signatures, for the differential test of the gateway's ERC-6492
// validator: `verifyMessage` (EIP-191 hash, then viem's own ERC-6492 universal validator in a
// deployless eth_call, which covers deployed, counterfactual and key-pair signers alike).
// Usage: node erc6492.mjs '{"rpc", "cases": [{"address", "message", "signature"}, ...]}'
// Prints {"valid": [true|false, ...]}, one verdict per case, in order.
import { createPublicClient, http } from 'viem';
import { foundry } from 'viem/chains';

const input = JSON.parse(process.argv[2]);
const client = createPublicClient({ chain: foundry, transport: http(input.rpc) });
const valid = [];
for (const { address, message, signature } of input.cases) {
  valid.push(await client.verifyMessage({ address, message, signature }));
}
console.log(JSON.stringify({ valid }));
