// A wallet, as a dApp would drive it with viem: builds an EIP-4361 message with viem's
// createSiweMessage and signs it (EIP-191) with a local account.
// Usage: node siwe.mjs '{"privateKey"?, "domain", "uri", "chainId", "nonce", ...}'
// Prints {"address", "privateKey", "message", "signature"}.
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';

const input = JSON.parse(process.argv[2]);
const privateKey = input.privateKey ?? generatePrivateKey();
const account = privateKeyToAccount(privateKey);
const message = input.rawMessage ?? createSiweMessage({
  address: input.address ?? account.address,
  domain: input.domain,
  uri: input.uri,
  chainId: input.chainId,
  nonce: input.nonce,
  version: '1',
  statement: input.statement,
  issuedAt: input.issuedAt ? new Date(input.issuedAt) : new Date(),
  expirationTime: input.expirationTime ? new Date(input.expirationTime) : undefined,
  notBefore: input.notBefore ? new Date(input.notBefore) : undefined,
});
const signature = await account.signMessage({ message });
console.log(JSON.stringify({ address: account.address, privateKey, message, signature }));
