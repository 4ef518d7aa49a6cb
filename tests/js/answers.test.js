/**
 * What a person is told, computed by the page's own rules (web/metadata.js) and compared with the golden answers
 * Python wrote for the same metadata.json (trainer/answers.py): the concern band and its threshold, the risk, the
 * type the card names first, the picture kind and the risk range's counts, for the golden photos and for
 * probabilities on both sides of every boundary.
 *
 *   python -m trainer.answers web/model/metadata.json --out /tmp/answers.json
 *   SKINLENS_GOLDEN_ANSWERS=/tmp/answers.json node --test tests/js/
 *
 * tests/test_answers.py does both, for the shipped model and for metadata of other shapes.
 */
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {decide, pictureKindOf, riskBin, triage} from '../../web/metadata.js';

// The risk is a sum of a few float64 probabilities, added in another order by numpy than by the page.
const RISK_TOLERANCE = 1e-12;

const file = process.env.SKINLENS_GOLDEN_ANSWERS;
if (!file) throw new Error('SKINLENS_GOLDEN_ANSWERS names no file: python -m trainer.answers writes one');
const golden = JSON.parse(readFileSync(file, 'utf8'));
const metadata = JSON.parse(readFileSync(golden.metadata, 'utf8'));

/** The page's answer for one case, in trainer/answers.py's terms (skinlens.js classify, card.js riskInWords). */
function pageAnswer({probabilities, clinical_used: used, photo_probability: photo}) {
  const kind = pictureKindOf(photo, metadata)?.id ?? null;
  const type = metadata.classes[decide(probabilities, metadata)].id;
  const screening = triage(probabilities, metadata, used, kind);
  if (!screening) return {kind, type, band: null};
  const bin = riskBin(screening.risk, metadata, used, kind);
  return {kind, type, risk: screening.risk, threshold: screening.threshold, band: screening.band,
    photo_only: screening.photoOnly, rule_kind: screening.kind, few_cancers: screening.fewCancers,
    bin: bin && {from: bin.from, to: bin.to, n: bin.n, malignant: bin.malignant, rate: bin.rate ?? null}};
}

test(`the page tells what Python tells, in ${golden.cases.length} cases of ${golden.metadata}`, () => {
  const wrong = [];
  for (const c of golden.cases) {
    const page = pageAnswer(c);
    const {risk: expectedRisk, ...expected} = c.answer;
    const {risk, ...got} = page;
    try {
      assert.deepEqual(got, expected);
      if (expectedRisk !== undefined) assert.ok(Math.abs(risk - expectedRisk) <= RISK_TOLERANCE, `risk ${risk}`);
    } catch (error) {
      wrong.push(`${c.name}: ${error.message.split('\n').slice(0, 12).join(' ')}`);
    }
  }
  assert.equal(wrong.length, 0, `${wrong.length} of ${golden.cases.length} answers differ:\n${wrong.slice(0, 5).join('\n')}`);
});
