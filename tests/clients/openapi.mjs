// Checks the gateway's OpenAPI document and real exchanges against it, with validators
// nobody here wrote: the document against the OpenAPI 3.1 schema
// (@seriousme/openapi-schema-validator), then each exchange against the document: its
// operation (path template and method) must be there, its status documented (exactly, as a
// range, or as `default`), its content type listed for that status, and its body valid
// against the schema listed (ajv, JSON Schema 2020-12, the dialect of OpenAPI 3.1, with the
// document's own components); a request body likewise against the operation's requestBody.
//
// Usage: node openapi.mjs FILE, where FILE holds {document, exchanges: [{method, path,
// status, contentType, body, request: {contentType, body} | null}]} (bodies as text; a
// request left null is not checked: one sent malformed on purpose).
// Prints {version, documentErrors, checked, failures, covered} as JSON.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const doc = input.document;

const validator = new Validator();
const checked = await validator.validate(structuredClone(doc));
const documentErrors = checked.valid ? [] : checked.errors;

// OpenAPI's integer formats, which JSON Schema leaves open.
const warnings = [];
const ajv = new Ajv2020({
  strict: false,
  allErrors: true,
  logger: { log() {}, warn: (m) => warnings.push(String(m)), error: (m) => warnings.push(String(m)) },
});
addFormats(ajv);
ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
const ROOT = "urn:gatehouse:openapi";
ajv.addSchema({ ...structuredClone(doc), $id: ROOT }, undefined, undefined, false);

const escape = (s) => s.replaceAll("~", "~0").replaceAll("/", "~1");
const at = (pointer) => pointer.split("/").slice(1).reduce((v, k) => v?.[k.replaceAll("~1", "/").replaceAll("~0", "~")], doc);

/// `{object, pointer}` of what a `$ref` (or the object itself) stands for.
function deref(object, pointer) {
  while (object && object.$ref) {
    pointer = object.$ref.replace(/^#/, "");
    object = at(pointer);
  }
  return { object, pointer };
}

const templates = Object.keys(doc.paths).map((template) => ({
  template,
  params: (template.match(/\{[^}]+\}/g) || []).length,
  regex: new RegExp(
    "^" + template.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[^/]+") + "$",
  ),
}));

/// The most literal template the path matches.
function templateOf(path) {
  const found = templates.filter((t) => t.regex.test(path)).sort((a, b) => a.params - b.params);
  return found[0]?.template;
}

const mediaType = (ct) => (ct || "").split(";")[0].trim().toLowerCase();
const isJson = (mt) => mt === "application/json" || mt.endsWith("+json");

const compiled = new Map();
function validate(pointer, value) {
  if (!compiled.has(pointer)) compiled.set(pointer, ajv.compile({ $ref: ROOT + "#" + pointer }));
  const check = compiled.get(pointer);
  return check(value) ? null : ajv.errorsText(check.errors, { separator: "; " });
}

/// What is wrong with `text` sent as `ct` under `content` (at `pointer`), if anything.
function checkBody(content, pointer, ct, text) {
  if (!content || Object.keys(content).length === 0) {
    return text.length === 0 ? null : `a body (${ct}) where none is documented`;
  }
  const mt = mediaType(ct);
  if (!(mt in content)) return `content type ${ct || "(none)"} is not one of ${Object.keys(content).join(", ")}`;
  const schemaPointer = `${pointer}/content/${escape(mt)}/schema`;
  if (!content[mt].schema) return null;
  let value = text;
  if (isJson(mt)) {
    try {
      value = JSON.parse(text);
    } catch {
      return `not JSON: ${text.slice(0, 80)}`;
    }
  } else if (mt === "application/x-www-form-urlencoded") {
    value = Object.fromEntries(new URLSearchParams(text));
  }
  return validate(schemaPointer, value);
}

const failures = [];
const covered = new Set();
for (const x of input.exchanges) {
  const what = `${x.method} ${x.path} → ${x.status}`;
  const template = templateOf(x.path);
  const method = x.method.toLowerCase();
  const operation = template && doc.paths[template][method];
  if (!operation) {
    failures.push(`${what}: no such operation in the document`);
    continue;
  }
  const opPointer = `/paths/${escape(template)}/${method}`;
  if (x.request) {
    const { object: body, pointer } = deref(operation.requestBody, `${opPointer}/requestBody`);
    const why = body
      ? checkBody(body.content, pointer, x.request.contentType, x.request.body)
      : "a request body where none is documented";
    if (why) failures.push(`${what}: request: ${why}`);
  }
  const status = String(x.status);
  const key = [status, `${status[0]}XX`, "default"].find((k) => k in operation.responses);
  if (!key) {
    failures.push(`${what}: status not documented`);
    continue;
  }
  const { object: response, pointer } = deref(operation.responses[key], `${opPointer}/responses/${key}`);
  const why = checkBody(response.content, pointer, x.contentType, x.body);
  if (why) failures.push(`${what}: answer (${key}): ${why}`);
  covered.add(`${x.method} ${template} ${key}`);
}
for (const w of warnings) failures.push(`ajv: ${w}`);

console.log(
  JSON.stringify({
    version: validator.version,
    documentErrors,
    checked: input.exchanges.length,
    failures,
    covered: [...covered].sort(),
  }),
);
