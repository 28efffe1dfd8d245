// A person in headless Chromium signs in to an app through an upstream IdP: the app
// (openid-client v6) sends the browser to the gateway's authorization endpoint; the person
// clicks the IdP's button on the hosted login page, signs in on the IdP's own page
// (`oidc-idp.mjs`, its login form), and lands back in the app with a code, which
// openid-client redeems and whose ID token it validates (signature, issuer, audience, nonce).
// Usage: node federation-browser.mjs '{"issuer", "client_id", "client_secret", "redirect_uri",
//   "button", "login"}'
// Prints {"claims": {...the ID token's...}, "button_text", "access_token"}; on a failure, the
// page's URL and HTML to stderr, exit code 1.
import { chromium } from 'playwright-core';
import * as client from 'openid-client';

const input = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;

const config = await client.discovery(new URL(input.issuer), input.client_id, input.client_secret,
  undefined, { execute: [client.allowInsecureRequests] });
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: input.redirect_uri,
  scope: 'openid email',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page;
try {
  const context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  let hit;
  const callback = new Promise((resolve) => { hit = resolve; });
  await page.route((u) => u.href.startsWith(input.redirect_uri), async (route) => {
    hit(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'ok' });
  });
  await page.goto(url.href);
  const button = page.getByRole('link', { name: input.button, exact: true });
  const button_text = (await button.textContent()).trim();
  await button.click();
  await page.locator('#login').fill(input.login);
  await page.locator('#idp-submit').click();
  const landed = await Promise.race([callback, new Promise((_, reject) =>
    setTimeout(() => reject(new Error('no callback')), TIMEOUT).unref())]);
  const tokens = await client.authorizationCodeGrant(config, new URL(landed), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  console.log(JSON.stringify({ claims: tokens.claims(), button_text, access_token: tokens.access_token }));
} catch (e) {
  console.error(`federation-browser.mjs: ${e.stack ?? e}`);
  if (page) {
    console.error(`page URL: ${page.url()}`);
    const html = await page.content().catch((err) => `(no content: ${err.message})`);
    console.error(`page content: ${html.trim().slice(0, 2000)}`);
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
