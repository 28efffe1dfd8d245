// Passkeys in a real browser: headless Debian Chromium (playwright-core) with the DevTools
// protocol's virtual authenticators (WebAuthn.addVirtualAuthenticator: CTAP2, internal,
// resident keys, user verification). Pages of the gateway's origin run the WebAuthn calls
// (`navigator.credentials.create/get` with the options' JSON forms); node calls the API.
// Usage: node passkeys.mjs '{"issuer", "token_a", "token_b", "email_a", "password"}'
// (the issuer on http://localhost:PORT: WebAuthn has no IP relying parties).
// Prints one JSON object of what each step answered; exits 1 on an unexpected failure.
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;
const origin = new URL(input.issuer).origin;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

async function api(path, body, token) {
  const res = await fetch(`${input.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body ?? {}),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: json };
}

// A browser with its own authenticator, on a page of the gateway's origin.
async function device() {
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  await page.goto(`${input.issuer}/login`);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return { context, page, cdp, authenticatorId };
}

const create = (page, publicKey) => page.evaluate(async (publicKey) => {
  const options = PublicKeyCredential.parseCreationOptionsFromJSON(publicKey);
  return (await navigator.credentials.create({ publicKey: options })).toJSON();
}, publicKey);
const get = (page, publicKey) => page.evaluate(async (publicKey) => {
  try {
    const options = PublicKeyCredential.parseRequestOptionsFromJSON(publicKey);
    return (await navigator.credentials.get({ publicKey: options })).toJSON();
  } catch (e) {
    return { error: e.name };
  }
}, publicKey);

async function register(dev, token, name) {
  const options = await api('/v1/me/passkeys/options', {}, token);
  const credential = await create(dev.page, options.body.publicKey);
  return api('/v1/me/passkeys', { credential, name }, token);
}

async function signIn(dev) {
  const options = await api('/v1/sessions/passkey/options', {});
  const credential = await get(dev.page, options.body.publicKey);
  const answer = await api('/v1/sessions/passkey', { handle: options.body.handle, credential });
  return { options, credential, answer };
}

const out = {};
let dev;
try {
  const a = await device();
  dev = a;
  out.options_selection = (await api('/v1/me/passkeys/options', {}, input.token_a)).body.publicKey.authenticatorSelection;
  const reg = await register(a, input.token_a, 'Laptop');
  out.registered = { status: reg.status, name: reg.body?.name };
  // The same authenticator again: its credential is excluded.
  const again = await api('/v1/me/passkeys/options', {}, input.token_a);
  out.excluded = again.body.publicKey.excludeCredentials?.length ?? 0;
  out.create_again = await a.page.evaluate(async (publicKey) => {
    try {
      await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) });
      return 'created';
    } catch (e) { return e.name; }
  }, again.body.publicKey);

  // The passkey alone signs in.
  const first = await signIn(a);
  out.sign_in = { status: first.answer.status, access_token: first.answer.body?.access_token };
  // Its assertion again: the handle is spent; under a new handle, the challenge differs.
  out.replay_same_handle = (await api('/v1/sessions/passkey', { handle: first.options.body.handle, credential: first.credential })).body?.code;
  const fresh = await api('/v1/sessions/passkey/options', {});
  out.replay_new_handle = (await api('/v1/sessions/passkey', { handle: fresh.body.handle, credential: first.credential })).body?.code;

  // A second browser with its own authenticator registers a passkey for account B.
  const b = await device();
  dev = b;
  out.registered_b = (await register(b, input.token_b, 'Phone')).status;
  const bSignIn = await signIn(b);
  out.sign_in_b = { status: bSignIn.answer.status, access_token: bSignIn.answer.body?.access_token };

  // Account A's password opens a challenge that a passkey answers (a second factor).
  const challenge = await api('/v1/sessions/password', { email: input.email_a, password: input.password });
  out.challenge_factors = challenge.body?.factors;
  const chOptions = await api('/v1/sessions/passkey/options', { session: challenge.body.session });
  out.challenge_allow = chOptions.body.publicKey.allowCredentials?.length ?? 0;
  // B's authenticator holds none of A's credentials; B's own assertion is refused for A.
  out.b_for_a_browser = (await get(b.page, chOptions.body.publicKey)).error ?? 'answered';
  const bOwn = await api('/v1/sessions/passkey/options', {});
  const bAssertion = await get(b.page, bOwn.body.publicKey);
  out.b_for_a = (await api('/v1/sessions/passkey', { session: challenge.body.session, credential: bAssertion })).body?.code;
  dev = a;
  const chOptions2 = await api('/v1/sessions/passkey/options', { session: challenge.body.session });
  const aAssertion = await get(a.page, chOptions2.body.publicKey);
  const answered = await api('/v1/sessions/passkey', { session: challenge.body.session, credential: aAssertion });
  out.challenge_answer = { status: answered.status, access_token: answered.body?.access_token };

  // The hosted pages: "Sign in with a passkey" on the login page; then the password's
  // challenge page answered with "Use a passkey".
  await a.page.goto(`${input.issuer}/login`);
  await a.page.getByRole('button', { name: 'Sign in with a passkey' }).click();
  await a.page.locator('#account-link').waitFor();
  out.page_sign_in = (await a.page.locator('h1').textContent()).trim();
  await a.page.goto(`${input.issuer}/login`);
  await a.page.getByLabel('Email').fill(input.email_a);
  await a.page.getByLabel('Password').fill(input.password);
  await a.page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await a.page.locator('#passkey-form').waitFor();
  out.page_challenge_code_form = await a.page.locator('#mfa-form').count();
  await a.page.getByRole('button', { name: 'Use a passkey' }).click();
  await a.page.locator('#account-link').waitFor();
  out.page_challenge = (await a.page.locator('h1').textContent()).trim();

  // A page of another origin (127.0.0.1, not the RP id's host) cannot use the passkey.
  const other = await a.context.newPage();
  await other.goto(`${input.issuer.replace('localhost', '127.0.0.1')}/login`);
  const otherOptions = await api('/v1/sessions/passkey/options', {});
  out.other_origin = (await get(other, otherOptions.body.publicKey)).error ?? 'answered';

  // The signature counter going backwards (a cloned key): the credential is put back with
  // a counter of 0, below what the gateway stored; its next assertion is refused.
  const { credentials } = await a.cdp.send('WebAuthn.getCredentials', { authenticatorId: a.authenticatorId });
  out.counter_before = credentials[0].signCount;
  await a.cdp.send('WebAuthn.removeCredential', { authenticatorId: a.authenticatorId, credentialId: credentials[0].credentialId });
  await a.cdp.send('WebAuthn.addCredential', { authenticatorId: a.authenticatorId, credential: { ...credentials[0], signCount: 0 } });
  out.regressed = (await signIn(a)).answer.body?.code;
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(String(e?.stack ?? e));
  console.error(JSON.stringify(out));
  if (dev) console.error(dev.page.url());
  process.exitCode = 1;
} finally {
  await browser.close();
}
