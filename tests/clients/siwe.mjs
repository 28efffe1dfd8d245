// A wallet, as a dApp would drive it with viem: builds an EIP-4361 message with viem's
// createSiweMessage and signs it (EIP-191) with a local account. For a contract wallet,
// `address` is the wallet and `privateKey` its owner's key; `erc6492: {factory, factoryData}`
// wraps the signature for a wallet not deployed yet (viem's serializeErc6492Signature).
// Usage: node siwe.mjs '{"privateKey"?, "address"?, "domain", "uri", "chainId", "nonce", ...}'
// Prints {"address", "privateKey", "message", "signature"}.
import { serializeErc6492Signature } from 'viem';
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
const signed = await account.signMessage({ message });
const signature = input.erc6492
  ? serializeErc6492Signature({
    address: input.erc6492.factory, data: input.erc6492.factoryData, signature: signed,
  })
  : signed;
const address = input.address ?? account.address;
console.log(JSON.stringify({ address, privateKey, message, signature }));
