/**
 * The batch's CSV (web/csv.js resultsCsv), made in the page: one row per file in order, RFC 4180 quoting, formulas
 * defused (file names come from the user's disk), failed files with their error and empty figures, and the
 * clinical answers each row used, so that it can be reproduced. No DOM, no input file.
 */
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {resultsCsv} from '../../web/csv.js';

const classes = [{id: 'nv'}, {id: 'mel'}];
const context = {classes, modelVersion: 'v1-abc', modelSha256: 'f'.repeat(64), backend: 'wasm'};

function result(file, overrides = {}) {
  return {file, error: null, classes: [{probability: 0.75}, {probability: 0.25}], top: {id: 'nv', probability: 0.75},
    risk: 0.25, band: 'lower', threshold: 0.3, clinicalUsed: [], clinical: {}, warnings: [],
    signals: {distance: 1.5, blur: 300}, timing: {modelMs: 27.44}, classifiedAt: '2026-12-07T23:00:00.000Z',
    ...overrides};
}

/** Splits CSV text into rows of cells (quoted cells may hold commas and doubled quotes; no line breaks here). */
function parse(text) {
  assert.ok(text.endsWith('\r\n'));
  return text.slice(0, -2).split('\r\n').map((line) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)]
    .filter((m, i, all) => i < all.length - 1 || m[0] !== '')
    .map((m) => (m[1].startsWith('"') ? m[1].slice(1, -1).replaceAll('""', '"') : m[1])));
}

test('a row per file, in order, under the header; the answers each used, or nothing for the photo alone', () => {
  const rows = parse(resultsCsv([
    result('a.jpg', {clinicalUsed: ['age', 'site', 'grown'], clinical: {age: 70, site: 'face', grown: 'yes'}}),
    result('b.jpg'),
  ], context));
  const header = rows[0];
  assert.deepEqual(header, ['file', 'status', 'error', 'p_nv', 'p_mel', 'top_class', 'top_probability',
    'malignant_risk', 'risk_band', 'threshold', 'answers', 'scope_warnings', 'distance', 'blur', 'model_version',
    'model_sha256', 'backend', 'ms', 'classified_at']);
  const [a, b] = rows.slice(1).map((row) => Object.fromEntries(header.map((name, i) => [name, row[i]])));
  assert.equal(a.file, 'a.jpg');
  assert.equal(a.answers, 'age=70;site=face;grown=yes');
  assert.equal(b.answers, '');
  assert.deepEqual([a.status, a.p_nv, a.p_mel, a.top_class, a.risk_band, a.threshold, a.ms],
    ['ok', '0.75', '0.25', 'nv', 'lower concern', '0.3', '27.4']);
  assert.deepEqual([a.model_version, a.backend, a.classified_at], ['v1-abc', 'wasm', '2026-12-07T23:00:00.000Z']);
});

test('a file that failed keeps its error and no figure', () => {
  const failed = {file: 'x.heic', error: 'HEIC photos can\'t be read', classes: null, top: null, risk: null,
    band: null, threshold: null, clinicalUsed: [], warnings: null, signals: null, timing: null,
    classifiedAt: '2026-12-07T23:00:01.000Z'};
  const [, row] = parse(resultsCsv([failed], context));
  assert.deepEqual(row.slice(0, 5), ['x.heic', 'error', 'HEIC photos can\'t be read', '', '']);
  assert.ok([...row.slice(5, 14), row[17]].every((cell) => cell === ''), row.join('|'));  // figures, answers, ms
  assert.deepEqual([row[14], row[16], row[18]], ['v1-abc', 'wasm', '2026-12-07T23:00:01.000Z']);
});

test('a file name a spreadsheet would run as a formula is defused, and quotes and commas are quoted', () => {
  const names = ['=HYPERLINK("http://x")', '+1.jpg', '-2.jpg', '@sum.jpg', '\tx.jpg', 'a,b "c".jpg', 'plain.jpg'];
  const rows = parse(resultsCsv(names.map((name) => result(name)), context)).slice(1);
  assert.deepEqual(rows.map((row) => row[0]), ['\'=HYPERLINK("http://x")', '\'+1.jpg', '\'-2.jpg', '\'@sum.jpg',
    '\'\tx.jpg', 'a,b "c".jpg', 'plain.jpg']);
  assert.ok(resultsCsv([result('a,b "c".jpg')], context).includes('"a,b ""c"".jpg"'));
  // Numbers are never defused: a negative number stays a number.
  const [, row] = parse(resultsCsv([result('n.jpg', {risk: -0.5})], context));
  assert.equal(row[7], '-0.5');
});
