// A person on the hosted account page in a real browser (headless Debian Chromium through
// playwright-core): signs in on /login, follows "Manage your account", reads where they are
// signed in, signs another session out, changes the password (a wrong current one first),
// tries to delete the account without ticking the box, then deletes it.
// Usage: node account-page.mjs '{"issuer", "email", "password", "new_password"}'
// Prints {"sessions_before", "devices", "sessions_after", "ended_notice", "wrong_password_error",
//   "password_notice", "unconfirmed_error", "deleted_title", "after_delete_url"}; on a failure prints the page's URL and HTML to stderr
// and exits 1.
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;
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
  await page.goto(`${input.issuer}/login`);
  await page.getByLabel('Email').fill(input.email);
  await page.getByLabel('Password').fill(input.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#account-link').click();
  await page.locator('#session-list').waitFor();
  const rows = page.locator('#session-list li.session');
  const sessions_before = await rows.count();
  const devices = await page.locator('#session-list .device').allTextContents();
  // Sign out the first session that is not this browser's.
  const other = rows.filter({ hasNot: page.locator('strong') }).first();
  await other.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('p.notice').waitFor();
  const ended_notice = await page.locator('p.notice').textContent();
  const sessions_after = await page.locator('#session-list li.session').count();
  // The password: a wrong current one is refused in words, the right one changes it.
  await page.getByLabel('Current password').fill(`${input.password}-wrong`);
  await page.getByLabel('New password').fill(input.new_password);
  await page.getByRole('button', { name: 'Change the password' }).click();
  await page.locator('#error').waitFor();
  const wrong_password_error = await page.locator('#error').textContent();
  await page.getByLabel('Current password').fill(input.password);
  await page.getByLabel('New password').fill(input.new_password);
  await page.getByRole('button', { name: 'Change the password' }).click();
  await page.locator('p.notice', { hasText: 'password was changed' }).waitFor();
  const password_notice = await page.locator('p.notice').textContent();
  // Delete without ticking the box: refused in words; then ticked.
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.locator('#error').waitFor();
  const unconfirmed_error = await page.locator('#error').textContent();
  await page.getByLabel('I want to delete my account').check();
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await page.locator('h1', { hasText: 'Account deleted' }).waitFor();
  const deleted_title = await page.locator('h1').textContent();
  // The browser session is gone: the account page sends to the login page.
  await page.goto(`${input.issuer}/account`);
  await page.locator('#login-form').waitFor();
  const after_delete_url = page.url();
  console.log(JSON.stringify({
    sessions_before, devices, sessions_after, ended_notice, wrong_password_error, password_notice,
    unconfirmed_error, deleted_title, after_delete_url,
  }));
} catch (e) {
  console.error(e.stack || String(e));
  if (page) {
    console.error(`page URL: ${page.url()}`);
    const html = await page.content().catch((err) => `(no content: ${err.message})`);
    console.error(`page content: ${html.trim().slice(0, 3000)}`);
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
