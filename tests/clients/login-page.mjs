// People signing in on the hosted login page in real browsers (headless Debian Chromium
// through playwright-core), one browser context per "browser" (each with its own cookies,
// so its own device cookie), in the order given.
// Usage: node login-page.mjs '{"issuer", "email", "password", "browsers": [0, 0, 1]}'
// Prints {"titles": [...]} (the page title after each sign-in); on a failure prints the
// page's URL and HTML to stderr and exits 1.
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const contexts = new Map();
let page;
try {
  const titles = [];
  for (const n of input.browsers) {
    if (!contexts.has(n)) {
      const context = await browser.newContext();
      context.setDefaultTimeout(TIMEOUT);
      contexts.set(n, context);
    }
    page = await contexts.get(n).newPage();
    await page.goto(`${input.issuer}/login?prompt=login`);
    await page.getByLabel('Email').fill(input.email);
    await page.getByLabel('Password').fill(input.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#account-link').waitFor();
    titles.push((await page.locator('h1').textContent()).trim());
    await page.close();
  }
  console.log(JSON.stringify({ titles }));
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
