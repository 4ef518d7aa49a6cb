/**
 * The pure rules of web/metadata.js that have no Python twin to be compared with, each on a small metadata.json
 * written here: the screening rule and figures a picture gets, the picture kind, the risk ranges' edges, where the
 * data came from, the out-of-scope checks, the clinical vector, the download and the hash. (What a person is told
 * is compared with Python in answers.test.js, the checker in contract.test.js.)
 *
 *   node --test tests/js/metadata.test.js
 */
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {
  assessScope, canonicalJson, checkMetadata, clinicalVector, contentDigest, countInWords, datasetOf, datasetsOf, decide,
  fetchMetadata, parseMetadata, pictureKindOf, riskBin, RETAKE_CHECKS, SCOPE_MESSAGES, scopeThresholds, screeningFigures,
  screeningRule, seenAndUnseen, sha256Hex, triage,
} from '../../web/metadata.js';

const bins = (...edges) => edges.slice(0, -1).map((from, i) => ({from, to: edges[i + 1], n: 10 + i, malignant: i,
  rate: i / (10 + i)}));

/** A three-class model with a clinical input and two picture kinds. */
function model() {
  return {
    classes: [{id: 'mel', name: 'Melanoma'}, {id: 'nv', name: 'Mole'}, {id: 'bcc', name: 'Basal cell carcinoma'}],
    input: {height: 224, width: 192},
    clinical: {size: 4, name: 'clinical', fields: [
      {name: 'age', kind: 'number', label: 'Age', min: 0, max: 120, scale: 0.01, index: 0, missing_index: 1},
      {name: 'sex', kind: 'choice', label: 'Sex', values: [{id: 'male', index: 2}, {id: 'female', index: 3}],
        missing_index: 3}]},
    screening: {
      malignant_classes: ['mel', 'bcc'], threshold: 0.3, risk_bins: bins(0, 0.1, 0.3, 1),
      validation: {sensitivity: 0.9, specificity: 0.6, n_malignant: 50, n_benign: 100},
      test: {sensitivity: 0.95, specificity: 0.65, n_malignant: 40, n_benign: 90},
      without_clinical: {threshold: 0.2, risk_bins: bins(0, 0.2, 1), validation: {sensitivity: 0.8}},
      by_kind: {
        photo: {threshold: 0.5, risk_bins: bins(0, 0.5, 1), few_cancers: true, n_validation_cancers: 7,
          validation: {sensitivity: 0.7}, without_clinical: {threshold: 0.4, test: {sensitivity: 0.6}}},
      },
    },
    picture_kinds: [{id: 'dermoscopic', name: 'dermoscopic close-up'}, {id: 'photo', name: 'ordinary photo'}],
    picture_kind_photo_from: 0.5,
  };
}

test('a picture gets its kind\'s rule, and the photo-only one when every field is blank', () => {
  const m = model();
  assert.deepEqual(screeningRule(m), {threshold: 0.3, risk_bins: m.screening.risk_bins,
    validation: m.screening.validation, test: m.screening.test, few_cancers: false, n_validation_cancers: null,
    kind: null, photoOnly: false});
  const blank = screeningRule(m, {photoOnly: true});
  assert.deepEqual([blank.threshold, blank.risk_bins, blank.test, blank.photoOnly], [0.2,
    m.screening.without_clinical.risk_bins, null, true]);
  const photo = screeningRule(m, {kind: 'photo'});
  assert.deepEqual([photo.threshold, photo.kind, photo.few_cancers, photo.n_validation_cancers, photo.test],
    [0.5, 'photo', true, 7, null]);
  const photoBlank = screeningRule(m, {kind: 'photo', photoOnly: true});
  assert.deepEqual([photoBlank.threshold, photoBlank.risk_bins, photoBlank.test, photoBlank.photoOnly],
    [0.4, null, {sensitivity: 0.6}, true]);
  assert.equal(screeningRule(m, {kind: 'dermoscopic'}).threshold, 0.3);  // no rule of its own: the model's
  assert.equal(screeningRule(m, {kind: 'dermoscopic'}).kind, null);
  delete m.clinical;  // no clinical input: blank fields change nothing
  assert.equal(screeningRule(m, {photoOnly: true}).threshold, 0.3);
  assert.equal(screeningRule(m, {photoOnly: true}).photoOnly, false);
  assert.equal(screeningRule({classes: []}), null);
  const noKinds = {screening: {threshold: 0.3}};  // a kind asked of a model that has none: the model's rule
  assert.deepEqual([screeningRule(noKinds, {kind: 'photo'}).threshold, screeningRule(noKinds, {kind: 'photo'}).kind],
    [0.3, null]);
});

test('the figures shown are the test split\'s, else the validation split\'s, else none', () => {
  const m = model();
  assert.deepEqual(screeningFigures(m), {split: 'test', ...m.screening.test, kind: null, few_cancers: false,
    n_validation_cancers: null});
  assert.deepEqual(screeningFigures(m, {photoOnly: true}), {split: 'validation', sensitivity: 0.8, kind: null,
    few_cancers: false, n_validation_cancers: null});
  assert.deepEqual(screeningFigures(m, {kind: 'photo'}), {split: 'validation', sensitivity: 0.7, kind: 'photo',
    few_cancers: true, n_validation_cancers: 7});
  assert.equal(screeningFigures(m, {kind: 'photo', photoOnly: true}).split, 'test');
  m.screening.test = {sensitivity: null};
  m.screening.validation = {};
  assert.equal(screeningFigures(m), null);
  assert.equal(screeningFigures({}), null);
  assert.equal(screeningFigures({screening: {threshold: 0.3}}), null);  // neither split's figures
});

test('the picture kind is the photo one from picture_kind_photo_from up', () => {
  const m = model();
  assert.deepEqual(pictureKindOf(0.5, m), {id: 'photo', name: 'ordinary photo', probability: 0.5});
  assert.deepEqual(pictureKindOf(0.4999, m), {id: 'dermoscopic', name: 'dermoscopic close-up', probability: 0.4999});
  assert.equal(pictureKindOf(0, m).id, 'dermoscopic');
  assert.equal(pictureKindOf(null, m), null);
  assert.equal(pictureKindOf(undefined, m), null);
  assert.equal(pictureKindOf(0.9, {...m, picture_kinds: [m.picture_kinds[0]]}), null);
  assert.equal(pictureKindOf(0.9, {...m, picture_kinds: null}), null);
});

test('the type shown maximises log p plus its weight; without weights the most probable; bad weights in words', () => {
  const m = model();
  assert.equal(decide([0.2, 0.7, 0.1], m), 1);
  assert.equal(decide([0.2, 0.7, 0.1], {...m, decision: {class_log_weights: [Math.log(4), 0, 0]}}), 0);
  assert.equal(decide([0.2, 0.7, 0.1], {...m, decision: {class_log_weights: [Math.log(3), 0, 0]}}), 1);
  assert.equal(decide([0, 0, 1e-40], m), 0);  // log 0 is clamped: the first of equals wins, not NaN
  assert.equal(decide([0, 1e-40, 0], {...m, decision: {class_log_weights: [0, 0, 1]}}), 2);
  for (const weights of [[0, 0], [0, 0, NaN], [0, Infinity, 0]]) {
    assert.throws(() => decide([0.2, 0.7, 0.1], {...m, decision: {class_log_weights: weights}}),
      {code: 'metadata-invalid', message: "metadata.json's decision block needs 3 finite class_log_weights"});
  }
});

test('the risk is the malignant classes\' sum, higher from the threshold up', () => {
  const m = model();
  assert.deepEqual(triage([0.1, 0.7, 0.2], m, ['age']), {risk: 0.30000000000000004, threshold: 0.3, band: 'higher',
    photoOnly: false, kind: null, fewCancers: false});
  assert.equal(triage([0.1, 0.75, 0.15], m, ['age']).band, 'lower');
  assert.equal(triage([0.1, 0.75, 0.15], m).band, 'higher');  // blank fields: the photo-only threshold, 0.2
  assert.deepEqual(triage([0.1, 0.75, 0.15], m, [], 'photo'), {risk: 0.25, threshold: 0.4, band: 'lower',
    photoOnly: true, kind: 'photo', fewCancers: true});
  assert.equal(triage([0.1, 0.9, 0], {classes: m.classes}), null);
});

test('a risk falls in the range that holds it; the last range holds its top edge', () => {
  const m = model();
  const used = ['age'];
  assert.deepEqual(riskBin(0, m, used), m.screening.risk_bins[0]);
  assert.equal(riskBin(0.1, m, used), m.screening.risk_bins[1]);
  assert.equal(riskBin(0.0999, m, used), m.screening.risk_bins[0]);
  assert.equal(riskBin(1, m, used), m.screening.risk_bins[2]);
  assert.equal(riskBin(1.5, m, used), m.screening.risk_bins[2]);
  assert.equal(riskBin(-0.1, m, used), null);
  assert.equal(riskBin(0.15, m), m.screening.without_clinical.risk_bins[0]);
  assert.equal(riskBin(0.6, m, [], 'photo'), null);  // the photo kind's blank-field rule has no ranges
  assert.equal(riskBin(0.6, m, used, 'photo'), m.screening.by_kind.photo.risk_bins[1]);
  assert.equal(riskBin(0.5, {...m, screening: {...m.screening, risk_bins: []}}, used), null);
  assert.equal(riskBin(0.5, {classes: m.classes}), null);
});

const KNOWN = {name: null, citation: null, licence: null, url: null, licence_url: null, population: null};

test('the data a model learned from: its datasets, its dataset, or the licence line of an older file', () => {
  const ham = {name: 'HAM10000', population: 'dermoscopy from Austria and Australia'};
  const pad = {name: 'PAD-UFES-20', licence: 'CC BY 4.0'};
  assert.deepEqual(datasetsOf({datasets: [ham, pad]}), [{...KNOWN, ...ham}, {...KNOWN, ...pad}]);
  assert.deepEqual(datasetsOf({datasets: [], dataset: pad}), [{...KNOWN, ...pad}]);
  assert.deepEqual(datasetOf({dataset: ham, licence: {data: 'X: Y'}}), {...KNOWN, ...ham});
  assert.deepEqual(datasetOf({licence: {data: 'HAM10000: Tschandl P. et al.: Sci. Data'}}),
    {...KNOWN, name: 'HAM10000', citation: 'Tschandl P. et al.: Sci. Data'});
  assert.deepEqual(datasetOf({licence: {data: ': no name'}}), KNOWN);
  assert.deepEqual(datasetOf({licence: {data: 'no colon'}}), KNOWN);
  assert.deepEqual(datasetOf({licence: {data: 7}}), KNOWN);
  assert.deepEqual(datasetOf({}), KNOWN);
});

test('what the model has not seen is said from metadata.json alone', () => {
  const m = model();
  m.datasets = [{name: 'HAM10000', population: 'mostly light skin'}, {name: 'PAD-UFES-20'}, {population: 'Brazil'}];
  m.screening.by_kind.photo.test = {n: 120, n_malignant: 30, sensitivity: 0.874, answered: 0.655};
  m.screening.by_kind.dermoscopic = {threshold: 0.3, test: {n: 900, n_malignant: 200, sensitivity: 0.95}};
  m.screening.by_kind.other = {threshold: 0.3, test: {sensitivity: null}};
  const said = seenAndUnseen(m);
  assert.equal(said.sources, 'It learned from HAM10000 (mostly light skin), PAD-UFES-20 and its training data ' +
    '(Brazil).');
  assert.equal(said.kinds, 'It knows dermoscopic close-ups and ordinary photos of a spot on the skin. Rashes, nails, ' +
    'hair and the inside of the mouth are outside what it knows.');
  assert.deepEqual(said.figures, [
    'On ordinary photos it had not seen (120 pictures, 30 of them cancers), it called 87 of every 100 cancers ' +
      '“higher concern” and answered 66 of every 100 pictures; these figures rest on few cancers.',
    'On dermoscopic close-ups it had not seen (900 pictures, 200 of them cancers), it called 95 of every 100 cancers ' +
      '“higher concern”.']);
  m.picture_kinds = null;
  m.screening.by_kind = {x: {test: {n: 1, n_malignant: 1, sensitivity: 1}}};
  const old = seenAndUnseen(m);
  assert.equal(old.kinds, 'It knows dermoscopic close-ups, taken through a skin microscope. Ordinary phone photos, ' +
    'rashes, nails, hair and the inside of the mouth are outside what it knows.');
  assert.deepEqual(old.figures, ['On xs it had not seen (1 pictures, 1 of them cancers), it called 100 of every 100 ' +
    'cancers “higher concern”.']);
  assert.deepEqual(seenAndUnseen({}), {sources: 'It learned from its training images.', kinds: old.kinds, figures: []});
  // Kinds listed without a screening block, a kind without test figures: nothing to say, and nothing breaks.
  assert.deepEqual(seenAndUnseen({picture_kinds: model().picture_kinds}).figures, []);
  assert.deepEqual(seenAndUnseen({screening: {by_kind: {photo: {threshold: 0.5}}}}).figures, []);
});

test('counts in words up to twelve, digits after', () => {
  assert.deepEqual([...Array(15).keys(), 100].map(countInWords), ['no', 'one', 'two', 'three', 'four', 'five', 'six',
    'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', '13', '14', '100']);
});

const SCOPE = {out_of_scope_threshold: 0.2, distance_threshold: 3, blur_threshold: 10, dark_threshold: 50,
  confidence_threshold: 0.4, min_side: 100};
const IN_SCOPE = {outOfScope: 0.2, distance: 3, blur: 10, brightness: 50, topProbability: 0.4, minSide: 100};

test('the out-of-scope thresholds: metadata.json\'s, or the built-in ones of a model without them', () => {
  const m = model();
  assert.deepEqual(scopeThresholds({...m, scope: SCOPE}), {...SCOPE, source: 'metadata'});
  assert.deepEqual(scopeThresholds({...m, scope: {blur_threshold: 10}}), {out_of_scope_threshold: null,
    distance_threshold: null, blur_threshold: 10, dark_threshold: null, confidence_threshold: null, min_side: null,
    source: 'metadata'});
  assert.deepEqual(scopeThresholds(m), {out_of_scope_threshold: null, distance_threshold: null, blur_threshold: null,
    dark_threshold: null, confidence_threshold: 2 / 3, min_side: 192, source: 'built-in'});
});

test('each out-of-scope check fails only past its threshold, and says why in its words', () => {
  const m = {...model(), scope: SCOPE};
  assert.deepEqual(assessScope(IN_SCOPE, m), {...IN_SCOPE, reasons: []});
  const past = {outOfScope: 0.21, distance: 3.1, blur: 9.9, brightness: 49, topProbability: 0.39, minSide: 99};
  const checks = {outOfScope: 'not-a-lesion', distance: 'distance', blur: 'blur', brightness: 'dark',
    topProbability: 'confidence', minSide: 'size'};
  for (const [signal, check] of Object.entries(checks)) {
    const {reasons} = assessScope({...IN_SCOPE, [signal]: past[signal]}, m);
    assert.deepEqual(reasons, [{check, message: SCOPE_MESSAGES[check]}], signal);
  }
  assert.deepEqual(assessScope(past, m).reasons.map((r) => r.check),
    ['not-a-lesion', 'distance', 'blur', 'dark', 'confidence', 'size']);
  // A signal the model lacks (null) or a threshold metadata.json lacks checks nothing.
  const none = {...past, outOfScope: null, distance: null, brightness: null};
  assert.deepEqual(assessScope(none, m).reasons.map((r) => r.check), ['blur', 'confidence', 'size']);
  assert.deepEqual(assessScope({...past, outOfScope: undefined}, m).reasons[0].check, 'distance');
  assert.deepEqual(assessScope(past, {...m, scope: {}}).reasons, []);
  assert.deepEqual(RETAKE_CHECKS, ['dark', 'blur', 'size']);
  assert.deepEqual(SCOPE_MESSAGES, {
    'not-a-lesion': 'SkinLens found no spot on the skin in this picture',
    distance: 'the picture is unlike those the model learnt from: the spot may be too far away or too small in the ' +
      'frame (take it again closer, the spot filling the middle of the frame)',
    blur: 'the photo looks blurred (hold the phone still, tap the spot on the screen to focus, and take it again)',
    dark: 'the photo is too dark (take it again in daylight or a bright room, with no flash glare on the spot)',
    confidence: 'no type is confident',
    size: 'the image is very small (use the original photo, not a thumbnail or a screenshot of it)',
  });
});

test('the clinical vector: a number scaled at its index, a choice at its value\'s, a blank at its missing index', () => {
  const m = model();
  assert.deepEqual(clinicalVector({age: 45, sex: 'male'}, m), {vector: [0.45, 0, 1, 0], used: ['age', 'sex']});
  assert.deepEqual(clinicalVector({age: '120', sex: ''}, m), {vector: [1.2, 0, 0, 1], used: ['age']});
  assert.deepEqual(clinicalVector({age: 0, sex: null}, m), {vector: [0, 0, 0, 1], used: ['age']});
  assert.deepEqual(clinicalVector({}, m), {vector: [0, 1, 0, 1], used: []});
  assert.deepEqual(clinicalVector(undefined, m), {vector: [0, 1, 0, 1], used: []});
  for (const age of [-1, 121, 'forty', NaN, Infinity]) {
    assert.throws(() => clinicalVector({age}, m),
      {code: 'invalid-answer', message: 'Age: please enter a number from 0 to 120, or leave it blank.'}, String(age));
  }
  assert.throws(() => clinicalVector({sex: 'other'}, m),
    {code: 'invalid-answer', message: 'Sex: "other" is not one of the choices.'});
});

test('metadata.json is downloaded past the browser cache, and a failed download is said in words', async (t) => {
  const text = JSON.stringify({schema_version: 1});
  const asked = [];
  t.mock.method(globalThis, 'fetch', async (url, options) => {
    asked.push([String(url), options]);
    return url.pathname.startsWith('/gone/') ? {ok: false, status: 404} : {ok: true, text: async () => text};
  });
  await assert.rejects(fetchMetadata('https://example.org/gone/'),
    {code: 'download-failed', message: 'could not download https://example.org/gone/metadata.json: HTTP 404'});
  await assert.rejects(fetchMetadata(new URL('https://example.org/model/')), {code: 'metadata-invalid'});
  assert.deepEqual(asked, [['https://example.org/gone/metadata.json', {cache: 'no-cache'}],
    ['https://example.org/model/metadata.json', {cache: 'no-cache'}]]);
});

test('the hash: sha256 of bytes or text, of canonical JSON without the version; refused without WebCrypto', async () => {
  const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  assert.equal(await sha256Hex('abc'), abc);
  assert.equal(await sha256Hex(new TextEncoder().encode('abc')), abc);
  assert.equal(canonicalJson({b: [1, 'x', null, {d: true, c: 1e21}], a: 0.5}), '{"a":0.5,"b":[1,"x",null,{"c":1e+21,"d":true}]}');
  const metadata = {model: {version: 'v1-abc', files: {}}, z: 1};
  assert.equal(await contentDigest(metadata), await sha256Hex('{"model":{"files":{}},"z":1}'));
  assert.equal(metadata.model.version, 'v1-abc');  // the metadata itself is left as it was
  const crypto = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  // A page over plain http:// has crypto without subtle; an old browser none at all.
  for (const value of [{}, undefined]) {
    Object.defineProperty(globalThis, 'crypto', {value, configurable: true});
    try {
      await assert.rejects(contentDigest(metadata), {code: 'no-crypto', message: 'this page must be opened over ' +
        'https:// or from localhost (the browser only checks files there)'});
    } finally {
      Object.defineProperty(globalThis, 'crypto', crypto);
    }
  }
});

test('each refusal carries its code, for the page to tell a damaged file from an unsupported one', () => {
  assert.throws(() => parseMetadata('{'), {code: 'metadata-invalid', message: /^metadata\.json is not valid JSON \(/});
  assert.throws(() => checkMetadata([]), {code: 'metadata-invalid', message: 'metadata.json is not a JSON object'});
  assert.throws(() => checkMetadata({schema_version: 2}), {code: 'unsupported-model',
    message: "metadata.json's schema_version is not 1, the only one SkinLens reads"});
  assert.throws(() => checkMetadata({schema_version: 1}), {code: 'metadata-invalid',
    message: 'metadata.json is not usable: model.format is missing (it must be "tfjs-graph-model")'});
});
