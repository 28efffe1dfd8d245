// An authenticator app, as the tests need one: otplib (an independent RFC 6238
// implementation) reads the gateway's otpauth:// URI as an app would and computes the codes
// at the given Unix times. The gateway's own code never computes the codes its tests send.
// Input: {uri, at: [unix seconds]}. Output: {secret, issuer, label, codes: [..]}.
import otplib from 'otplib';

const { authenticator } = otplib;
const input = JSON.parse(process.argv[2]);
const uri = new URL(input.uri);
if (uri.protocol !== 'otpauth:' || uri.host !== 'totp') throw new Error(`not a TOTP URI: ${input.uri}`);
const p = uri.searchParams;
if (p.get('algorithm') !== 'SHA1' || p.get('digits') !== '6' || p.get('period') !== '30') {
  throw new Error(`unexpected parameters: ${input.uri}`);
}
const secret = p.get('secret');
const codes = input.at.map((t) => authenticator.clone({ epoch: t * 1000 }).generate(secret));
console.log(JSON.stringify({
  secret,
  issuer: p.get('issuer'),
  label: decodeURIComponent(uri.pathname.replace(/^\/+/, '')),
  codes,
}));
