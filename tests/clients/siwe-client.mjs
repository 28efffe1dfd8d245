// A dApp's whole wallet sign-in against a running gateway, with clients nobody here wrote:
// the nonce from the gateway, an EIP-4361 message built by viem (createSiweMessage) or by the
// `siwe` package (SiweMessage.prepareMessage), signed by viem or by an ethers wallet, posted
// to /v1/sessions/siwe; the tokens are then validated with jose against the pool's JWKS.
// Usage: node siwe-client.mjs '{"api", "issuer", "domain", "uri", "chainId", "builder": "viem"|"siwe"}'
// Prints {"address", "status", "access", "id"} (the verified payloads) or {"status", "body"}.
import { Wallet } from 'ethers';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { SiweMessage } from 'siwe';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';

const input = JSON.parse(process.argv[2]);
const post = async (path, body) => {
  const r = await fetch(`${input.api}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
};

const { body: { nonce } } = await post('/v1/siwe/nonce', {});
let address;
let message;
let signature;
if (input.builder === 'siwe') {
  const wallet = Wallet.createRandom();
  address = wallet.address;
  message = new SiweMessage({
    domain: input.domain, address, uri: input.uri, version: '1', chainId: input.chainId, nonce,
    statement: 'Sign in to Gatehouse with the siwe package.', issuedAt: new Date().toISOString(),
  }).prepareMessage();
  signature = await wallet.signMessage(message);
} else {
  const account = privateKeyToAccount(generatePrivateKey());
  address = account.address;
  message = createSiweMessage({
    domain: input.domain, address, uri: input.uri, version: '1', chainId: input.chainId, nonce,
    statement: 'Sign in to Gatehouse with viem.', issuedAt: new Date(),
  });
  signature = await account.signMessage({ message });
}
const r = await post('/v1/sessions/siwe', { message, signature });
if (r.status !== 200) {
  console.log(JSON.stringify({ address, status: r.status, body: r.body }));
  process.exit(0);
}
const jwks = createRemoteJWKSet(new URL(`${input.api}/.well-known/jwks.json`));
const access = await jwtVerify(r.body.access_token, jwks, {
  issuer: input.issuer, audience: input.issuer, typ: 'at+jwt', algorithms: ['ES256', 'RS256'],
});
const id = await jwtVerify(r.body.id_token, jwks, {
  issuer: input.issuer, audience: 'direct', algorithms: ['ES256', 'RS256'],
});
console.log(JSON.stringify({ address, status: r.status, access: access.payload, id: id.payload }));
