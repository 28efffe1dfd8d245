// A web application that asks for a second factor (`acr_values=mfa`) only where it needs
// one, as an openid-client (v6) relying party, with a person in a real browser (headless
// Debian Chromium through playwright-core):
//   a. a plain authorization: the person signs in with a password on the hosted page;
//   b. the person sets up an authenticator app through the API (otplib computes its codes);
//   c. an authorization with `acr_values=mfa` on the same browser: only the second factor
//      is asked (the step-up page), and the ID token says `acr: "mfa"`;
//   d. the same again: the browser session has the second factor, no page at all.
// Usage: node step-up.mjs '{"issuer", "client_id", "redirect_uri", "email", "password"}'
// Prints {"plain_claims", "challenge_title", "id_claims", "sso_claims"}; on a failure prints
// the page's URL and HTML to stderr and exits 1.
import * as client from 'openid-client';
import { chromium } from 'playwright-core';
import { appCode } from './app-code.mjs';

const input = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;
const config = await client.discovery(new URL(input.issuer), input.client_id, {}, client.None(),
  { execute: [client.allowInsecureRequests] });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page;
// One authorization: the browser follows it until the redirect URI, and the app redeems
// the code.
async function authorize(answer, acr = true) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri, scope: 'openid email', nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...(acr ? { acr_values: 'mfa' } : {}),
  });
  // Nothing listens at the redirect URI: the browser's request for it is what the app gets.
  const callback = new Promise((resolve) => {
    const seen = (req) => {
      if (req.url().startsWith(input.redirect_uri)) {
        page.off('request', seen);
        resolve(req.url());
      }
    };
    page.on('request', seen);
  });
  // A redirect straight to the (closed) redirect URI fails the navigation: expected.
  await page.goto(url.href).catch(() => {});
  if (answer) await answer();
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('no request to the redirect URI')), TIMEOUT);
  });
  const at = await Promise.race([callback, late]).finally(() => clearTimeout(timer));
  const tokens = await client.authorizationCodeGrant(config, new URL(at), {
    pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
  });
  return tokens.claims();
}
const out = {};
// The API, as the app's own backend would call it.
async function api(path, body, token) {
  const res = await fetch(`${input.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  out.plain_claims = await authorize(async () => {
    await page.getByLabel('Email').fill(input.email);
    await page.getByLabel('Password').fill(input.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }, false);
  const set = await api('/v1/sessions/password', { email: input.email, password: input.password });
  const app = await api('/v1/me/mfa/totp', {}, set.access_token);
  await api('/v1/me/mfa/totp/confirm', { code: await appCode(app.secret) }, set.access_token);
  out.id_claims = await authorize(async () => {
    await page.locator('#mfa-form').waitFor();
    out.challenge_title = (await page.locator('h1').textContent()).trim();
    await page.getByLabel('Authenticator app').check();
    await page.getByLabel('Code', { exact: true }).fill(await appCode(app.secret));
    await page.getByRole('button', { name: 'Continue' }).click();
  });
  out.sso_claims = await authorize(null);
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(String(e));
  if (page) {
    console.error(page.url());
    console.error(await page.content());
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
