// A person in a real browser: headless Debian Chromium driven through playwright-core signs in on
// the gateway's hosted login page, once with email and password (a wrong password first) and once
// with an Ethereum wallet (an injected EIP-1193 provider, announced by EIP-6963, whose key is a
// viem local account on the Node side). The final redirect to redirect_uri is intercepted, so
// nothing needs to listen there.
// Usage: node browser.mjs '{"issuer", "authorize_url", "redirect_uri", "email", "password",
//   "wallet_key", "screenshot"}'
// Prints {"email": {"error_text", "callback"}, "wallet": {"address", "callback"}, "screenshot"};
// on a failure prints the page's URL and HTML to stderr and exits 1.
import { chromium } from 'playwright-core';
import { privateKeyToAccount } from 'viem/accounts';

const input = JSON.parse(process.argv[2]);
const account = privateKeyToAccount(input.wallet_key);
const TIMEOUT = 15000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  // Without the background-networking flags Chromium's connections are refused on this machine.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page; // the page in use, for the failure report
const pageErrors = [];

// A fresh context and page whose navigations to redirect_uri are answered here, not sent; the
// returned promise resolves to the first such URL (the callback with code, state and iss).
async function freshPage(context) {
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
  let hit;
  const callback = new Promise((resolve) => { hit = resolve; });
  await page.route((url) => url.href.startsWith(input.redirect_uri), async (route) => {
    hit(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'ok' });
  });
  return { page, callback };
}
const withTimeout = (promise, what) => Promise.race([promise, new Promise((_, reject) =>
  setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT).unref())]);

// The wallet, injected before any page script: EIP-1193 `window.ethereum`, also announced by
// EIP-6963. Signing happens in Node (window.__gatehouseSign, exposed below).
function injectWallet({ address }) {
  const utf8 = (hex) => new TextDecoder().decode(new Uint8Array(hex.slice(2).match(/../g)?.map((b) => parseInt(b, 16)) ?? []));
  const provider = {
    isMetaMask: false,
    async request({ method, params = [] }) {
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [address]; // lowercase, as real wallets often answer
        case 'eth_chainId':
          return '0x1';
        case 'personal_sign': {
          const [message, from] = params;
          if (String(from).toLowerCase() !== address) throw Object.assign(new Error('unknown account'), { code: 4100 });
          const text = /^0x([0-9a-f]{2})*$/i.test(message) ? utf8(message) : message;
          return window.__gatehouseSign(text);
        }
        default:
          throw Object.assign(new Error(`unsupported method ${method}`), { code: 4200 });
      }
    },
    on() {}, removeListener() {},
  };
  window.ethereum = provider;
  const detail = Object.freeze({
    info: {
      uuid: '5c0e7d6a-2f0e-4d59-9a53-4b8f3f1c2d11',
      name: 'Test Wallet',
      icon: 'data:image/svg+xml,<svg xmlns="http://www.w3.org/2000/svg"/>',
      rdns: 'org.gatehouse.test',
    },
    provider,
  });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
}

const out = { screenshot: input.screenshot };
try {
  // a. Email and password: the login page (screenshot), a wrong password, then the right one.
  {
    const { page, callback } = await freshPage(await browser.newContext());
    await page.goto(input.authorize_url);
    await page.locator('#login-form').waitFor();
    await page.screenshot({ path: input.screenshot, fullPage: true });
    await page.getByLabel('Email').fill(input.email);
    await page.getByLabel('Password').fill(`${input.password}-wrong`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // The page comes back with the error in words (the first role=alert with any text).
    const alert = page.locator('[role="alert"]').filter({ hasText: /\S/ }).first();
    await alert.waitFor();
    const error_text = (await alert.textContent()).trim();
    await page.getByLabel('Email').fill(input.email);
    await page.getByLabel('Password').fill(input.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    out.email = { error_text, callback: await withTimeout(callback, `the navigation to ${input.redirect_uri}`) };
  }

  // b. Wallet: "Sign in with Ethereum" with the injected provider.
  {
    const context = await browser.newContext();
    await context.exposeFunction('__gatehouseSign', (message) => account.signMessage({ message }));
    await context.addInitScript(injectWallet, { address: account.address.toLowerCase() });
    const { page, callback } = await freshPage(context);
    await page.goto(input.authorize_url);
    await page.getByRole('button', { name: 'Sign in with Ethereum', exact: true }).click();
    out.wallet = { address: account.address, callback: await withTimeout(callback, `the navigation to ${input.redirect_uri}`) };
  }
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(`browser.mjs: ${e.stack ?? e}`);
  if (page) {
    console.error(`page URL: ${page.url()}`);
    const html = await page.content().catch((err) => `(no content: ${err.message})`);
    console.error(`page content: ${html.trim().slice(0, 2000)}`);
  }
  if (pageErrors.length) console.error(pageErrors.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
