// A backend validating Gatehouse tokens with jose (an independent JOSE implementation): the
// pool's JWKS, the issuer, the audience and, for access tokens, `typ: at+jwt` (RFC 9068).
// Usage: node jwt-verify.mjs '{"jwks_uri", "issuer", "audience", "token", "typ"?}'
// Prints the verified claims, or {"error": …}.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const input = JSON.parse(process.argv[2]);
try {
  const jwks = createRemoteJWKSet(new URL(input.jwks_uri));
  const { payload } = await jwtVerify(input.token, jwks, {
    issuer: input.issuer,
    audience: input.audience,
    ...(input.typ ? { typ: input.typ } : {}),
  });
  console.log(JSON.stringify(payload));
} catch (e) {
  console.log(JSON.stringify({ error: e.code ?? e.message }));
}
