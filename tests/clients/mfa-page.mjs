// A person on the hosted pages of a pool that requires a second factor, in a real browser
// (headless Debian Chromium through playwright-core): signs in with a password, sets up an
// authenticator app from the key shown on the page (codes from otplib, as an app computes
// them), gets a code wrong first, sees the backup codes once, goes on signed in; then signs
// in again in a fresh browser and answers the challenge with the app.
// Usage: node mfa-page.mjs '{"issuer", "email", "password"}'
// Prints {"challenge_title", "wrong_error", "backup_codes", "signed_in_title" (the account page's), "second_title",
//   "second_signed_in"}; on a failure prints the page's URL and HTML to stderr and exits 1.
import { chromium } from 'playwright-core';
import { appCode } from './app-code.mjs';

const input = JSON.parse(process.argv[2]);
const TIMEOUT = 15000;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
async function signIn(page) {
  await page.goto(`${input.issuer}/login`);
  await page.getByLabel('Email').fill(input.email);
  await page.getByLabel('Password').fill(input.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.locator('#mfa-form').waitFor();
}
let page;
const out = {};
try {
  let context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  await signIn(page);
  out.challenge_title = (await page.locator('h1').textContent()).trim();
  await page.locator('#qr svg').waitFor();
  const secret = (await page.locator('#totp-secret').textContent()).trim();
  // A wrong code: the page again, with the same key and what went wrong.
  await page.getByLabel('Code', { exact: true }).fill('000000');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('#error').waitFor();
  out.wrong_error = await page.locator('#error').textContent();
  const again = (await page.locator('#totp-secret').textContent()).trim();
  if (again !== secret) throw new Error('the key changed after a wrong code');
  await page.getByLabel('Code', { exact: true }).fill(await appCode(secret));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('#backup-codes').waitFor();
  out.backup_codes = await page.locator('#backup-codes li').count();
  // No application waits: "Continue" leads to the account page, signed in.
  await page.locator('#continue').click();
  await page.locator('#session-list').waitFor();
  out.signed_in_title = (await page.locator('h1').textContent()).trim();
  await context.close();

  // A fresh browser: the app's code answers the challenge.
  context = await browser.newContext();
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  await signIn(page);
  out.second_title = (await page.locator('h1').textContent()).trim();
  if (await page.locator('#totp-secret').count() !== 0) throw new Error('a key on the challenge');
  await page.getByLabel('Authenticator app').check();
  await page.getByLabel('Code', { exact: true }).fill(await appCode(secret));
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('#account-link').waitFor();
  out.second_signed_in = (await page.locator('h1').textContent()).trim();
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
