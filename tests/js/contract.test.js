/**
 * The page's checker says what Python's says: web/metadata.js checkMetadata against converter/contract.py
 * check_metadata, word for word, on metadata.json with every field the checkers read deleted or set to each kind of
 * value (tests/contract_cases.py probe_cases), and on the shipped file.
 *
 *   python tests/contract_cases.py web/model/metadata.json /tmp/contract.json
 *   SKINLENS_CONTRACT_CASES=/tmp/contract.json node --test tests/js/contract.test.js
 *
 * tests/test_contract.py does both.
 */
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {checkMetadata, checkVersion, contentDigest, parseMetadata, readMetadata} from '../../web/metadata.js';

const file = process.env.SKINLENS_CONTRACT_CASES;
if (!file) throw new Error('SKINLENS_CONTRACT_CASES names no file: python tests/contract_cases.py writes one');
const {metadata: source, cases} = JSON.parse(readFileSync(file, 'utf8'));

/** checkMetadata's refusal of a text, in words (the page's parse error keeps only Python's first words). */
function pageSays(text) {
  try {
    checkMetadata(parseMetadata(text));
    return null;
  } catch (error) {
    return error.message.startsWith('metadata.json is not valid JSON') ? 'metadata.json is not valid JSON' :
      error.message;
  }
}

test(`the page refuses what Python refuses, in the same words, in ${cases.length} cases of ${source}`, () => {
  const differ = cases.map((c) => ({id: c.id, python: c.says, page: pageSays(c.text)}))
    .filter((c) => c.python !== c.page);
  assert.equal(differ.length, 0, `${differ.length} of ${cases.length} differ:\n` +
    differ.slice(0, 5).map((c) => `${c.id}: Python ${JSON.stringify(c.python)}, page ${JSON.stringify(c.page)}`)
      .join('\n'));
  assert.ok(cases.some((c) => c.says === null) && cases.some((c) => c.says !== null));
});

test('the file as converted is read whole: its content is its version', async () => {
  const text = readFileSync(source, 'utf8');
  const metadata = await readMetadata(text);
  assert.equal(metadata.model.version, JSON.parse(text).model.version);
  assert.ok(metadata.model.version.endsWith(`-${(await checkVersion(metadata)).slice(0, 12)}`));
});

test('a metadata.json changed after conversion is refused: its content no longer hashes to its version', async () => {
  const metadata = parseMetadata(readFileSync(source, 'utf8'));
  const edits = [(m) => { m.screening.threshold = 0.999; }, (m) => { m.classes[0].name = 'Harmless freckle'; },
    (m) => { m.input.height += 1; }, (m) => { m.golden.pop(); }, (m) => { m.extra = null; }];
  for (const edit of edits) {
    const changed = structuredClone(metadata);
    edit(changed);
    const digest = (await contentDigest(changed)).slice(0, 12);
    await assert.rejects(readMetadata(JSON.stringify(changed)), {code: 'version-mismatch', message: 'the model files ' +
      `do not match their version: metadata.json says ${metadata.model.version}, but its content is version …-` +
      `${digest}. The model folder was changed after it was made; install it again from its release.`});
  }
});
