// An OpenID Connect relying party, as a web application would run one with openid-client (v6):
// discovery, authorization code + PKCE through the gateway's hosted login page (driven with plain
// fetch and a small cookie jar, as a browser would), ID token validation against the JWKS,
// UserInfo, refresh, code replay, SSO, revocation, RP-initiated logout and prompt=none.
// Usage: node oidc.mjs '{"issuer", "client_id", "client_secret"?, "redirect_uri",
//   "post_logout_redirect_uri", "email", "password", "scope"?}'
// Prints one JSON object (see `out` below); a step that fails unexpectedly is reported as
// {"failed_at": step, "error": {...}} beside what had been recorded, still with exit code 0.
import * as client from 'openid-client';

const input = JSON.parse(process.argv[2]);
const scope = input.scope ?? 'openid email offline_access';
const origin = new URL(input.issuer).origin;
const out = {};
let step = 'discovery';

// Expected failures become {error, status?, description?}: an OAuth error code where the server
// sent one (token endpoint body, or a WWW-Authenticate challenge), else openid-client's code.
const errorOf = (e) => ({
  error: e.error ?? e.cause?.[0]?.parameters?.error ?? e.code ?? e.message,
  status: e.status ?? e.cause?.status,
  description: e.error_description ?? e.cause?.[0]?.parameters?.error_description,
});
const attempt = async (f) => {
  try { return { ok: true, value: await f() }; } catch (e) { return { ok: false, ...errorOf(e) }; }
};

// The cookie jar: name=value from every Set-Cookie of the gateway, sent back on every request to
// its origin; a cookie set empty, with Max-Age<=0 or an Expires in the past is dropped.
const jar = new Map();
async function request(url, init = {}) {
  url = new URL(url);
  const headers = new Headers(init.headers);
  if (url.origin === origin && jar.size) {
    headers.set('cookie', [...jar].map(([n, v]) => `${n}=${v}`).join('; '));
  }
  const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(15000) });
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const gone = attrs.some((a) => {
      const [k, v = ''] = a.split('=').map((s) => s.trim());
      return (/^max-age$/i.test(k) && Number(v) <= 0) || (/^expires$/i.test(k) && Date.parse(v) < Date.now());
    });
    if (gone || value === '') jar.delete(name); else jar.set(name, value);
  }
  const location = res.headers.get('location');
  return { res, status: res.status, location: location && new URL(location, url).href };
}

// HTML helpers: attributes of a tag (values unescaped), and the login form's action and fields.
const unescape = (s) => s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, ent) => {
  const named = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[ent.toLowerCase()];
  if (named) return named;
  return String.fromCodePoint(ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10));
});
function attributes(tag) {
  const attrs = {};
  for (const m of tag.matchAll(/([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    attrs[m[1].toLowerCase()] = unescape(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}
function loginForm(html) {
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const form = attributes(m[1]);
    if (form.id !== 'login-form') continue;
    const fields = {};
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const a = attributes(input[1]);
      if ((a.type ?? '').toLowerCase() === 'hidden' && a.name) fields[a.name] = a.value ?? '';
    }
    return { action: form.action, fields };
  }
  throw new Error('no <form id="login-form"> on the login page');
}

// One authorization request: GET it; when the gateway shows its login page, sign in there.
// Returns the callback URL (redirect_uri?code&state&iss) and whether it went straight through.
async function authorize(config, extra = {}) {
  const code_verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri, scope, state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const first = await request(url);
  if (![302, 303].includes(first.status)) throw new Error(`authorize: HTTP ${first.status}`);
  if (first.location.startsWith(input.redirect_uri)) {
    return { callback: first.location, sso: true, code_verifier, state, nonce };
  }
  const page = await request(first.location);
  const html = await page.res.text();
  if (page.status !== 200) throw new Error(`login page: HTTP ${page.status}: ${html.slice(0, 300)}`);
  const { action, fields } = loginForm(html);
  const post = await request(new URL(action, first.location), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
    body: new URLSearchParams({ ...fields, email: input.email, password: input.password }),
  });
  out.login_status = post.status;
  if (!post.location?.startsWith(input.redirect_uri)) {
    throw new Error(`login: HTTP ${post.status} to ${post.location}: ${(await post.res.text()).slice(0, 300)}`);
  }
  return { callback: post.location, sso: false, code_verifier, state, nonce };
}
const redeem = (config, login) => client.authorizationCodeGrant(config, new URL(login.callback), {
  pkceCodeVerifier: login.code_verifier,
  expectedState: login.state,
  expectedNonce: login.nonce,
  idTokenExpected: true,
});

try {
  // a. Discovery: http:// needs allowInsecureRequests; the issuer must match exactly.
  const config = await client.discovery(
    new URL(input.issuer), input.client_id,
    input.client_secret ?? {},
    input.client_secret ? client.ClientSecretBasic(input.client_secret) : client.None(),
    { execute: [client.allowInsecureRequests] },
  );
  out.issuer_ok = config.serverMetadata().issuer === input.issuer;

  // b-d. Log in on the hosted page, then redeem the code (ID token signature, iss, aud, nonce).
  step = 'login';
  const login = await authorize(config);
  out.callback_iss = new URL(login.callback).searchParams.get('iss');
  step = 'code';
  const tokens = await redeem(config, login);
  out.id_claims = tokens.claims();
  out.token_scope = tokens.scope;
  out.token_type = tokens.token_type;
  out.has_refresh = typeof tokens.refresh_token === 'string';

  // e. UserInfo, for the ID token's subject.
  step = 'userinfo';
  out.userinfo = await client.fetchUserInfo(config, tokens.access_token, out.id_claims.sub);

  // f. Refresh: a new access token, and a rotated refresh token.
  step = 'refresh';
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  out.refreshed = {
    access: typeof refreshed.access_token === 'string' && refreshed.access_token !== tokens.access_token,
    rotated: !!refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token,
  };

  // g-h. Code replay fails, and revokes what the first redemption issued (and its refresh).
  step = 'replay';
  const replay = await attempt(() => redeem(config, login));
  out.replay_error = replay.ok ? null : { error: replay.error, status: replay.status };
  const after = async (token) => {
    const r = await attempt(() => client.fetchUserInfo(config, token, out.id_claims.sub));
    return r.ok ? { ok: true } : { ok: false, status: r.status, error: r.error };
  };
  out.after_replay = {
    first_access: await after(tokens.access_token),
    refreshed_access: await after(refreshed.access_token),
  };

  // i. A second login rides on the browser session (SSO); revoke its refresh token, then use it.
  step = 'sso';
  const second = await authorize(config);
  out.sso = second.sso;
  const tokens2 = await redeem(config, second);
  step = 'revocation';
  await client.tokenRevocation(config, tokens2.refresh_token);
  const reuse = await attempt(() => client.refreshTokenGrant(config, tokens2.refresh_token));
  out.revoked_refresh_error = reuse.ok ? null : { error: reuse.error, status: reuse.status };

  // j. RP-initiated logout, then prompt=none finds no session.
  step = 'logout';
  const logout = await request(client.buildEndSessionUrl(config, {
    id_token_hint: tokens2.id_token,
    post_logout_redirect_uri: input.post_logout_redirect_uri,
    state: 'bye',
  }));
  out.logout = { status: logout.status, location: logout.location };
  step = 'prompt_none';
  const silent = await request(client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri, scope, state: client.randomState(), prompt: 'none',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  }));
  out.prompt_none_status = silent.status;
  out.prompt_none_error = silent.location ? new URL(silent.location).searchParams.get('error') : null;
} catch (e) {
  out.failed_at = step;
  out.error = errorOf(e);
  if (out.error.error !== e.message) out.error.message = e.message;
}
console.log(JSON.stringify(out));
