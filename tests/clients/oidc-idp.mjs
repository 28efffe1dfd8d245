// An upstream identity provider on a loopback port, for the federation tests: the npm
// `oidc-provider` (a certified OpenID Provider) with the gateway's clients, people the test
// registers, and what a test needs to make it misbehave on purpose.
//
// Usage: node oidc-idp.mjs '{"redirect_uris": [...]}'
// Prints one line once listening: {"issuer", "port", "client_key_pem", "client_key_kid",
//   "apple_key_pem", "apple_key_kid"}.
//
// Clients (all with `redirect_uris`):
//   - `gatehouse` (secret `gatehouse-secret`, client_secret_basic),
//   - `gatehouse-post` (secret `gatehouse-secret`, client_secret_post),
//   - `gatehouse-jwt` (private_key_jwt: ES256 with the printed client key),
//   - `gatehouse-apple` (client_secret_post: the secret must be an Apple-style ES256 JWT,
//     `iss` team `TEAM123456`, `sub` the client, `aud` https://appleid.apple.com, signed by
//     the printed Apple key; checked with jose here, refused otherwise).
// Test routes (JSON bodies):
//   POST /test/accounts {sub, email?, email_verified?, name?, given_name?, family_name?}
//   POST /test/next {sub}: the next sign-in at this IdP is that person's, with no form.
//   POST /test/tamper {mode}: what the token endpoint does to the next token answers:
//     "" (nothing), "wrong_nonce", "other_audience", "expired", "other_key", "unknown_kid",
//     "alg_none", "alg_hs256" (signed with HMAC keyed by the public key), "slow" (3 s).
//   GET /account, GET /account/emails: an OAuth 2.0 user-info in GitHub's shape (`id` a
//     number, `login`, `name`, `email`) and its `/user/emails` list, for a bearer access token.
// Without /test/next, /interaction/{uid} shows a login form (field `login`: the sub).
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const input = JSON.parse(process.argv[2] ?? '{}');
const redirectUris = input.redirect_uris ?? [];

const signing = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(signing.privateKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
const publicSigningJwk = { ...(await jose.exportJWK(signing.publicKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
const stranger = await jose.generateKeyPair('RS256', { extractable: true });
const clientKey = await jose.generateKeyPair('ES256', { extractable: true });
const clientJwk = { ...(await jose.exportJWK(clientKey.publicKey)), kid: 'client-key-1', alg: 'ES256', use: 'sig' };
const appleKey = await jose.generateKeyPair('ES256', { extractable: true });
const APPLE_TEAM = 'TEAM123456';
const APPLE_SECRET = 'apple-internal-secret';

const accounts = new Map();
let nextLogin = null;
let tamper = '';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'gatehouse', client_secret: 'gatehouse-secret', redirect_uris: redirectUris,
      token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'gatehouse-post', client_secret: 'gatehouse-secret', redirect_uris: redirectUris,
      token_endpoint_auth_method: 'client_secret_post' },
    { client_id: 'gatehouse-jwt', redirect_uris: redirectUris, token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [clientJwk] } },
    { client_id: 'gatehouse-apple', client_secret: APPLE_SECRET, redirect_uris: redirectUris,
      token_endpoint_auth_method: 'client_secret_post', response_types: ['code'] },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['a-test-idp-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  scopes: ['openid', 'email', 'profile', 'name', 'user'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
    name: ['name'],
  },
  // The claims of the scopes asked for go into the ID token itself.
  conformIdTokenClaims: false,
  responseModes: undefined,
  pkce: { required: () => true },
  ttl: { Interaction: 600, Session: 600, Grant: 600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
  async findAccount(ctx, sub) {
    const person = accounts.get(sub);
    if (!person) return undefined;
    return { accountId: sub, async claims() { return { sub, ...person }; } };
  },
  // Every client is trusted with every scope it asks for: no consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid');
    grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'given_name', 'family_name']);
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});
provider.proxy = false;

// Apple's client secret: a JWT checked here, then replaced by the client's real secret.
async function checkAppleSecret(ctx) {
  const chunks = [];
  for await (const c of ctx.req) chunks.push(c);
  const form = new URLSearchParams(Buffer.concat(chunks).toString());
  if (form.get('client_id') === 'gatehouse-apple') {
    const { payload, protectedHeader } = await jose.jwtVerify(form.get('client_secret') ?? '', appleKey.publicKey, {
      issuer: APPLE_TEAM, audience: 'https://appleid.apple.com', subject: 'gatehouse-apple',
    });
    if (protectedHeader.alg !== 'ES256' || protectedHeader.kid !== 'apple-key-1' || !payload.exp) {
      throw new Error('not an Apple client secret');
    }
    form.set('client_secret', APPLE_SECRET);
  }
  ctx.req.body = Object.fromEntries(form);
}

async function forge(idToken, mode) {
  const claims = jose.decodeJwt(idToken);
  const sign = (payload, key, kid) => new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid }).sign(key);
  switch (mode) {
    case 'wrong_nonce': return sign({ ...claims, nonce: 'forged-nonce' }, signing.privateKey, 'idp-key-1');
    case 'other_audience': return sign({ ...claims, aud: 'another-client' }, signing.privateKey, 'idp-key-1');
    case 'expired': {
      const past = Math.floor(Date.now() / 1000) - 3600;
      return sign({ ...claims, iat: past - 600, exp: past }, signing.privateKey, 'idp-key-1');
    }
    case 'other_key': return sign(claims, stranger.privateKey, 'idp-key-1');
    case 'unknown_kid': return sign(claims, stranger.privateKey, 'stranger-key');
    case 'alg_none': return new jose.UnsecuredJWT(claims).encode();
    case 'alg_hs256': {
      const secret = new TextEncoder().encode(JSON.stringify(publicSigningJwk));
      return new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'idp-key-1' }).sign(secret);
    }
    default: return idToken;
  }
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/token') {
    if (tamper === 'slow') await new Promise((r) => setTimeout(r, 3000));
    try {
      await checkAppleSecret(ctx);
    } catch (e) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: String(e.message) };
      return;
    }
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && tamper && tamper !== 'slow') {
    ctx.body = { ...ctx.body, id_token: await forge(ctx.body.id_token, tamper) };
  }
});

function readJson(req) {
  return new Promise((resolve, reject) => {
    let s = '';
    req.on('data', (c) => { s += c; });
    req.on('end', () => { try { resolve(s ? JSON.parse(s) : {}); } catch (e) { reject(e); } });
  });
}

function readForm(req) {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c) => { s += c; });
    req.on('end', () => resolve(new URLSearchParams(s)));
  });
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

async function bearerAccount(req) {
  const auth = req.headers.authorization ?? '';
  if (!auth.startsWith('Bearer ')) return null;
  const token = await provider.AccessToken.find(auth.slice(7));
  return token ? { sub: token.accountId, ...accounts.get(token.accountId) } : null;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

server.on('request', async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/test/accounts' && req.method === 'POST') {
      const person = await readJson(req);
      const { sub, ...claims } = person;
      accounts.set(String(sub), claims);
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/test/next' && req.method === 'POST') {
      nextLogin = String((await readJson(req)).sub);
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/test/tamper' && req.method === 'POST') {
      tamper = (await readJson(req)).mode ?? '';
      return send(res, 200, { ok: true });
    }
    if (url.pathname === '/account' || url.pathname === '/account/emails') {
      const who = await bearerAccount(req);
      if (!who) return send(res, 401, { message: 'Bad credentials' });
      if (url.pathname === '/account') {
        return send(res, 200, { id: Number(who.sub), login: `user${who.sub}`, name: who.name ?? null, email: who.email ?? null });
      }
      return send(res, 200, who.email ? [{ email: who.email, primary: true, verified: !!who.email_verified }] : []);
    }
    const m = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (m) {
      const details = await provider.interactionDetails(req, res);
      if (m[2] && req.method === 'POST') {
        const form = await readForm(req);
        const sub = form.get('login') ?? '';
        if (!accounts.has(sub)) return send(res, 400, '<p>Unknown person</p>', 'text/html');
        return provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
      }
      if (nextLogin) {
        const sub = nextLogin;
        nextLogin = null;
        return provider.interactionFinished(req, res, { login: { accountId: sub } }, { mergeWithLastSubmission: false });
      }
      return send(res, 200, `<!doctype html><title>Test IdP</title><h1>Test IdP sign-in</h1>
<form method="post" action="/interaction/${escape(details.uid)}/login">
<label>Login <input name="login" id="login"></label><button type="submit" id="idp-submit">Sign in</button></form>`, 'text/html');
    }
    return provider.callback()(req, res);
  } catch (e) {
    send(res, 500, { error: String(e?.message ?? e) });
  }
});

console.log(JSON.stringify({
  issuer,
  port,
  client_key_pem: await jose.exportPKCS8(clientKey.privateKey),
  client_key_kid: 'client-key-1',
  apple_key_pem: await jose.exportPKCS8(appleKey.privateKey),
  apple_key_kid: 'apple-key-1',
  apple_team: APPLE_TEAM,
}));
