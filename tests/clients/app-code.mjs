// An authenticator app's codes for the browser tests (otplib computes them, never the
// gateway's code): a code of a later 30-second step than the last one this process sent
// (the gateway accepts each step once), at least 3 s before its step ends.
import otplib from 'otplib';

const { authenticator } = otplib;
let lastStep = -1;

export async function appCode(secret) {
  for (;;) {
    const now = Math.floor(Date.now() / 1000);
    const step = Math.floor(now / 30);
    if (step > lastStep && 30 - (now % 30) > 3) {
      lastStep = step;
      return authenticator.generate(secret);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
