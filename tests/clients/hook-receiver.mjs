// A hook receiver on a loopback port, for the hook tests: it checks every call's Standard
// Webhooks signature with the `standardwebhooks` library (a wrong or missing one answers
// 401, as a real receiver would), checks the payload against its JSON Schema in
// docs/hooks/ (and a scripted answer against the trigger's answer schema), records the
// call, and answers what the test scripted.
//
// Usage: node hook-receiver.mjs
// Prints one line once listening: {"url": "http://127.0.0.1:PORT"}.
//
// Hooks are paths: POST /hooks/{name}. Test routes (JSON bodies):
//   POST /test/secret {name, secrets: [...]}: the secrets the receiver accepts for {name}.
//   POST /test/script {name, answers: [{status?, body?, delay_ms?, raw?, invalid?}]}:
//     the next answers for {name}, in order; the last one repeats. `raw` is sent as it is
//     (not JSON); `invalid` marks a body the test means to break the answer schema.
//   GET /test/calls?name=...: every call so far: {id, timestamp, signature, body, verified,
//     schema_errors, answer_schema_errors}.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = path.dirname(fileURLToPath(import.meta.url));
const schemaDir = path.join(here, '..', '..', 'docs', 'hooks');
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validators = {};
for (const file of fs.readdirSync(schemaDir).filter((f) => f.endsWith('.json'))) {
  validators[file.replace(/\.json$/, '')] = ajv.compile(JSON.parse(fs.readFileSync(path.join(schemaDir, file), 'utf8')));
}

const secrets = new Map();
const scripts = new Map();
const calls = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function verified(name, raw, headers) {
  for (const secret of secrets.get(name) ?? []) {
    try {
      new Webhook(secret).verify(raw, {
        'webhook-id': headers['webhook-id'],
        'webhook-timestamp': headers['webhook-timestamp'],
        'webhook-signature': headers['webhook-signature'],
      });
      return true;
    } catch {
      // the next secret
    }
  }
  return false;
}

function schemaErrors(key, value) {
  const validate = validators[key];
  if (!validate) return [`no schema ${key}`];
  return validate(value) ? [] : validate.errors.map((e) => `${e.instancePath} ${e.message}`);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (req.method === 'POST' && url.pathname === '/test/secret') {
      const { name, secrets: list } = JSON.parse(await readBody(req));
      secrets.set(name, list);
      return json(res, 200, {});
    }
    if (req.method === 'POST' && url.pathname === '/test/script') {
      const { name, answers } = JSON.parse(await readBody(req));
      scripts.set(name, answers);
      return json(res, 200, {});
    }
    if (req.method === 'GET' && url.pathname === '/test/calls') {
      return json(res, 200, calls.get(url.searchParams.get('name')) ?? []);
    }
    const m = url.pathname.match(/^\/hooks\/([a-z0-9-]+)$/);
    if (req.method === 'POST' && m) {
      const name = m[1];
      const raw = await readBody(req);
      let body = null;
      try {
        body = JSON.parse(raw);
      } catch {
        // recorded as null
      }
      const ok = verified(name, raw, req.headers);
      const trigger = body?.type ?? 'unknown';
      const record = {
        id: req.headers['webhook-id'] ?? null,
        timestamp: req.headers['webhook-timestamp'] ?? null,
        signature: req.headers['webhook-signature'] ?? null,
        body,
        verified: ok,
        schema_errors: schemaErrors(`${trigger}.request`, body),
        answer_schema_errors: [],
      };
      if (!calls.has(name)) calls.set(name, []);
      calls.get(name).push(record);
      if (!ok) return json(res, 401, { error: 'signature' });
      const list = scripts.get(name) ?? [{}];
      const answer = list.length > 1 ? list.shift() : list[0];
      if (answer.delay_ms) await new Promise((r) => setTimeout(r, answer.delay_ms));
      const status = answer.status ?? 200;
      if (answer.raw !== undefined) {
        res.writeHead(status, { 'content-type': 'text/plain' });
        return res.end(answer.raw);
      }
      const out = answer.body ?? {};
      if (status === 200 && !answer.invalid && validators[`${trigger}.response`]) {
        record.answer_schema_errors = schemaErrors(`${trigger}.response`, out);
      }
      return json(res, status, out);
    }
    json(res, 404, { error: 'not found' });
  } catch (e) {
    json(res, 500, { error: String(e) });
  }
});

await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}` }));
