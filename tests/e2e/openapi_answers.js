// Validates answers medflowd gave against the OpenAPI document it serves (tests/e2e/openapi.sh):
// each answer's status must be one its operation documents, its Content-Type one of that
// response's media types (or no body where the response has none), and its body valid against
// the response's schema (OpenAPI 3.0 schemas, checked by Ajv after the two differences from
// JSON Schema that matter here: `nullable`, and $refs into the document's components).
//
// node openapi_answers.js OPENAPI.json ANSWERS.jsonl
// ANSWERS.jsonl: one {"method", "route" (the path template), "status", "content_type", "body"}
// a line. Prints one line per answer and exits 1 when any fails.
'use strict';
const fs = require('fs');
const path = require('path');
const modules = path.join(__dirname, '..', 'node_modules');
const Ajv = require(path.join(modules, 'ajv'));
const addFormats = require(path.join(modules, 'ajv-formats'));

const [docFile, answersFile] = process.argv.slice(2);
const doc = JSON.parse(fs.readFileSync(docFile, 'utf8'));

// OpenAPI 3.0 schema -> JSON Schema: nullable becomes a "null" type, refs point into the
// document registered below as "openapi".
function convert(s) {
  if (Array.isArray(s)) return s.map(convert);
  if (s === null || typeof s !== 'object') return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out[k] = 'openapi' + v;
    else if (k === 'nullable') continue;
    else out[k] = convert(v);
  }
  if (s.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
  }
  return out;
}

const ajv = new Ajv({strict: false, allErrors: true});
addFormats(ajv);
ajv.addFormat('int32', {type: 'number', validate: (x) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31});
ajv.addFormat('int64', {type: 'number', validate: (x) => Number.isInteger(x)});
ajv.addSchema({components: convert(doc.components || {})}, 'openapi');

// A local $ref of the document, resolved.
function deref(o) {
  while (o && o.$ref) o = o.$ref.slice(2).split('/').reduce((at, key) => at[key], doc);
  return o;
}
const base = (mediaType) => mediaType.split(';')[0].trim().toLowerCase();

let failed = 0;
const seen = new Set();
const lines = fs.readFileSync(answersFile, 'utf8').split('\n').filter((l) => l.trim());
for (const line of lines) {
  const a = JSON.parse(line);
  const what = `${a.method} ${a.route} -> ${a.status}`;
  const fail = (why) => {
    failed++;
    console.log(`FAIL ${what}: ${why}\n  body: ${String(a.body).slice(0, 400)}`);
  };
  const op = ((doc.paths || {})[a.route] || {})[a.method.toLowerCase()];
  if (!op) { fail('no such operation in the document'); continue; }
  const res = deref((op.responses || {})[String(a.status)] || (op.responses || {}).default);
  if (!res) { fail(`status not documented (documented: ${Object.keys(op.responses).join(', ')})`); continue; }
  seen.add(`${op.operationId} ${a.status}`);
  const content = res.content || {};
  if (Object.keys(content).length === 0) {
    if (a.body !== '') fail('the response documents no body, but one came');
    else console.log(`ok   ${what} (no body)`);
    continue;
  }
  const given = base(a.content_type || '');
  const media = Object.keys(content).find((m) => base(m) === given);
  if (!media) { fail(`Content-Type "${a.content_type}" is not one of ${Object.keys(content).join(', ')}`); continue; }
  let body = a.body;
  if (given === 'application/json') {
    try { body = JSON.parse(a.body); } catch (e) { fail(`body is not JSON: ${e.message}`); continue; }
  }
  const schema = content[media].schema;
  if (!schema) { console.log(`ok   ${what} (${media}, no schema)`); continue; }
  const validate = ajv.compile(convert(schema));
  if (validate(body)) console.log(`ok   ${what} (${media})`);
  else fail(ajv.errorsText(validate.errors, {separator: '; '}));
}
console.log(`${lines.length - failed} passed, ${failed} failed (${seen.size} operation/status pairs)`);
process.exit(failed ? 1 : 0);
