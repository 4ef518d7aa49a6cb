/**
 * The clinical vector the page builds (web/metadata.js clinicalVector, from metadata.json's clinical block alone)
 * against the one Python builds (trainer/clinical.py Layout.encode), for each layout: age, sex and site, and with
 * the six questions. tests/test_clinical.py writes the cases:
 *
 *   {"layouts": [{"spec": Layout.spec(), "cases": [{"answers": {...}, "vector": [...], "used": [...]}]}]}
 */
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {clinicalVector} from '../../web/metadata.js';

const file = process.env.SKINLENS_CLINICAL_CASES;
if (!file) throw new Error('SKINLENS_CLINICAL_CASES names no file: tests/test_clinical.py writes one');
const {layouts} = JSON.parse(readFileSync(file, 'utf8'));

for (const {spec, cases} of layouts) {
  test(`the page builds Python's clinical vector: ${spec.size} values, ${cases.length} forms`, () => {
    assert.ok(cases.length > 0);
    for (const {answers, vector, used} of cases) {
      const got = clinicalVector(answers, {clinical: spec});
      assert.equal(got.vector.length, vector.length);
      // float32 in Python (age 0.45 is 0.44999998...), float64 in the page: equal to float32 rounding.
      got.vector.forEach((value, i) => assert.ok(Math.abs(value - vector[i]) < 1e-6,
        `${JSON.stringify(answers)}: value ${i} is ${value}, Python's ${vector[i]}`));
      assert.deepEqual(got.used, used, JSON.stringify(answers));
    }
  });
}
