/**
 * Reads model/metadata.json, the one contract between the Python side and this page, and the pure
 * rules it defines: the malignant-risk triage band and the out-of-scope checks.
 *
 *   const metadata = await fetchMetadata(new URL('model/', location.href));
 *   const {risk, band} = triage(probabilities, metadata);
 *
 * No DOM and no TensorFlow.js: the model card page uses it too.
 */
import {ImageError, SkinLensError} from './errors.js';

/** Revalidate with the server: a metadata.json cached from an older release names older files. */
const FETCH_OPTIONS = {cache: 'no-cache'};

/**
 * Parses metadata.json (the converter writes null, never NaN, for a figure that does not exist).
 *
 * @param {string} text
 * @returns {object}
 * @throws {Error} in words when the text is not JSON.
 */
export function parseMetadata(text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SkinLensError('metadata-invalid', `metadata.json is not valid JSON (${error.message})`);
  }
}

/** [path, test, what it must be] for every field this page reads before it can classify anything. */
const REQUIRED_FIELDS = [
  ['model.format', (v) => typeof v === 'string', 'a string'],
  ['model.version', (v) => typeof v === 'string', 'a string'],
  ['model.model_json', (v) => typeof v === 'string', 'a file name'],
  ['model.files', (v) => v !== null && typeof v === 'object' && !Array.isArray(v), 'an object of sha256s'],
  ['model.total_bytes', (v) => Number.isInteger(v) && v > 0, 'a positive whole number'],
  ['input.name', (v) => typeof v === 'string', 'a tensor name'],
  ['input.height', (v) => Number.isInteger(v) && v > 0, 'a positive whole number'],
  ['input.width', (v) => Number.isInteger(v) && v > 0, 'a positive whole number'],
  ['input.channels', (v) => v === 3, '3'],
  ['outputs.probabilities', (v) => typeof v === 'string', 'a tensor name'],
  ['preprocess.exif_orientation', (v) => typeof v === 'boolean', 'true or false'],
  ['preprocess.alpha_background', (v) => Array.isArray(v) && v.length === 3 && v.every(Number.isFinite),
    'three numbers'],
  ['preprocess.resize', (v) => v !== null && typeof v === 'object', 'an object'],
  ['preprocess.max_bytes', (v) => Number.isFinite(v) && v > 0, 'a positive number'],
  ['preprocess.max_pixels', (v) => Number.isFinite(v) && v > 0, 'a positive number'],
  ['preprocess.min_side', (v) => Number.isFinite(v) && v >= 0, 'a number'],
  ['classes', (v) => Array.isArray(v) && v.length > 0 &&
    v.every((c) => c && typeof c.id === 'string' && typeof c.name === 'string'), 'a list of {id, name}'],
];

/**
 * Throws, naming the field, unless metadata.json has every field the page reads, of the right kind.
 *
 * @param {object} metadata
 */
export function checkMetadata(metadata) {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new SkinLensError('metadata-invalid', 'metadata.json is not a JSON object');
  }
  if (metadata.schema_version !== 1) {
    throw new SkinLensError('unsupported-model', `metadata.json has schema_version ${metadata.schema_version}; this page reads version 1`);
  }
  for (const [path, valid, what] of REQUIRED_FIELDS) {
    const value = path.split('.').reduce((node, key) => (node == null ? undefined : node[key]), metadata);
    if (value === undefined || !valid(value)) {
      throw new SkinLensError('metadata-invalid', `metadata.json is not usable: ${path} is ${value === undefined ? 'missing' : 'wrong'} ` +
        `(it must be ${what})`);
    }
  }
}

/**
 * Parses and checks the text of a metadata.json, however it was obtained (downloaded, or read from a file
 * the user chose).
 *
 * @param {string} text
 * @returns {Promise<object>}
 * @throws {SkinLensError} in words when it is not JSON, lacks a field the page reads or does not match its
 *   version (checkVersion).
 */
export async function readMetadata(text) {
  const metadata = parseMetadata(text);
  checkMetadata(metadata);
  await checkVersion(metadata);
  return metadata;
}

/**
 * Downloads, parses and checks metadata.json from a model folder.
 *
 * @param {URL|string} base the model folder's URL, ending in '/'.
 * @returns {Promise<object>}
 * @throws {SkinLensError} in words when it cannot be downloaded, or as readMetadata.
 */
export async function fetchMetadata(base) {
  const url = new URL('metadata.json', base);
  const response = await fetch(url, FETCH_OPTIONS);
  if (!response.ok) throw new SkinLensError('download-failed', `could not download ${url}: HTTP ${response.status}`);
  return readMetadata(await response.text());
}

/**
 * metadata.json as canonical JSON: keys sorted, no spaces, numbers as JavaScript writes them; the same
 * text as converter/convert.py's canonical_json for the same data. `model.version` is left out: it is
 * what the text's hash is compared with.
 *
 * @param {*} value
 * @returns {string}
 */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * sha256 (hex) of everything metadata.json says, `model.version` aside: the weights and model.json by
 * their sha256s in model.files, the classes and their names, thresholds, outputs, preprocessing, clinical
 * fields, golden cases, figures shown on the model card. Its first 12 digits end the model version.
 *
 * @param {object} metadata
 * @returns {Promise<string>}
 */
export async function contentDigest(metadata) {
  if (!globalThis.crypto?.subtle) {
    throw new SkinLensError('no-crypto', 'this page must be opened over https:// or from localhost ' +
      '(the browser only checks files there)');
  }
  const content = {...metadata, model: {...metadata.model}};
  delete content.model.version;
  return sha256Hex(canonicalJson(content));
}

/** Hex sha256 of bytes or of a string's UTF-8. */
export async function sha256Hex(buffer) {
  if (typeof buffer === 'string') buffer = new TextEncoder().encode(buffer);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Throws unless metadata.model.version ends in '-' and the first 12 digits of contentDigest: a
 * metadata.json edited after conversion (a class renamed, a threshold moved, a shard's checksum
 * replaced) names a version it is not, and is refused.
 *
 * @param {object} metadata
 * @returns {Promise<string>} the full digest.
 */
export async function checkVersion(metadata) {
  const digest = await contentDigest(metadata);
  const version = metadata.model.version;
  if (!version.endsWith(`-${digest.slice(0, 12)}`)) {
    throw new SkinLensError('version-mismatch', `the model files do not match their version: metadata.json ` +
      `says ${version}, but its content is version …-${digest.slice(0, 12)}. The model folder was changed ` +
      'after it was made; install it again from its release.');
  }
  return digest;
}

/**
 * The figures of the validated threshold to show users: the test split's, else the validation split's.
 *
 * @param {object} metadata
 * @param {{photoOnly?: boolean}} [options] photoOnly: the figures of the threshold for photos classified with
 *   every clinical field blank (screening.without_clinical), where the model has one.
 * @returns {{split: 'test'|'validation', sensitivity: number, specificity: number, n_malignant: number,
 *   n_benign: number, auc: number}|null} null when metadata.json has no screening block.
 */
export function screeningFigures(metadata, {photoOnly = false} = {}) {
  const screening = metadata.screening;
  if (!screening) return null;
  const without = screening.without_clinical;
  if (photoOnly && without) {
    if (without.test?.sensitivity != null) return {split: 'test', ...without.test};
    if (without.validation?.sensitivity != null) return {split: 'validation', ...without.validation};
  }
  if (screening.test?.sensitivity != null) return {split: 'test', ...screening.test};
  if (screening.validation?.sensitivity != null) return {split: 'validation', ...screening.validation};
  return null;
}

/**
 * Throws unless metadata.screening (when present) names classes the model has.
 *
 * @param {object} metadata
 */
export function checkScreeningContract(metadata) {
  const screening = metadata.screening;
  if (!screening) return;
  const ids = new Set(metadata.classes.map((cls) => cls.id));
  const unknown = screening.malignant_classes.filter((id) => !ids.has(id));
  const without = screening.without_clinical;
  if (unknown.length > 0 || typeof screening.threshold !== 'number' ||
      (without && typeof without.threshold !== 'number')) {
    throw new SkinLensError('metadata-invalid', `metadata.json's screening block is not usable (unknown classes: ${unknown.join(', ') || 'none'}; ` +
      `threshold ${screening.threshold})`);
  }
}

/**
 * The type shown for a photo: the class maximising log p + metadata.decision.class_log_weights.
 * The weights (logit adjustment, chosen by the trainer on validation for balanced accuracy) stop the
 * common mole from winning every close call; without a decision block it is the most probable class.
 *
 * @param {number[]} probabilities in metadata.classes order.
 * @param {object} metadata
 * @returns {number} the index of the class shown.
 * @throws {Error} if the decision block does not have one finite weight per class.
 */
export function decide(probabilities, metadata) {
  const weights = metadata.decision?.class_log_weights ?? probabilities.map(() => 0);
  if (weights.length !== probabilities.length || !weights.every(Number.isFinite)) {
    throw new SkinLensError('metadata-invalid', `metadata.json's decision block needs ${probabilities.length} finite class_log_weights`);
  }
  const scores = probabilities.map((p, i) => Math.log(Math.max(p, 1e-30)) + weights[i]);
  return scores.indexOf(Math.max(...scores));
}

/**
 * The malignant-risk triage of one prediction: the sum of the probabilities of screening.malignant_classes
 * (already calibrated: the temperature is inside the graph), compared with the validated threshold.
 *
 * A model with a clinical input has a second threshold, screening.without_clinical.threshold, for photos
 * classified with every field blank: their risk scores spread differently, and each threshold was chosen on
 * validation for the same sensitivity.
 *
 * @param {number[]} probabilities in metadata.classes order.
 * @param {object} metadata
 * @param {string[]} [clinicalUsed=[]] the clinical fields given (skinlens.js Result.clinicalUsed).
 * @returns {{risk: number, threshold: number, band: 'higher'|'lower', photoOnly: boolean}|null} null without
 *   a screening block; photoOnly says the photo-only threshold was used.
 */
export function triage(probabilities, metadata, clinicalUsed = []) {
  const screening = metadata.screening;
  if (!screening) return null;
  const malignant = new Set(screening.malignant_classes);
  const risk = metadata.classes.reduce((sum, cls, i) => sum + (malignant.has(cls.id) ? probabilities[i] : 0), 0);
  const photoOnly = Boolean(metadata.clinical && screening.without_clinical) && clinicalUsed.length === 0;
  const threshold = photoOnly ? screening.without_clinical.threshold : screening.threshold;
  return {risk, threshold, band: risk >= threshold ? 'higher' : 'lower', photoOnly};
}

/**
 * What a malignant-risk score means, from metadata.screening's risk_bins: the validation images that
 * scored in the same range, and how many of them were malignant (trainer/evaluate.py risk_bins).
 *
 * @param {number} risk
 * @param {object} metadata
 * @param {string[]} [clinicalUsed=[]] with none given, a model with a clinical input uses its photo-only bins.
 * @returns {{from: number, to: number, n: number, malignant: number, rate: number}|null} null when metadata.json
 *   has no bins (a model converted before they existed).
 */
export function riskBin(risk, metadata, clinicalUsed = []) {
  const screening = metadata.screening;
  const photoOnly = Boolean(metadata.clinical && screening?.without_clinical) && clinicalUsed.length === 0;
  const bins = photoOnly ? screening.without_clinical.risk_bins : screening?.risk_bins;
  if (!Array.isArray(bins) || bins.length === 0) return null;
  return bins.find((bin, i) => risk >= bin.from && (risk < bin.to || i === bins.length - 1)) ?? null;
}

/**
 * Where the model's training data comes from: metadata.dataset (trainer/readers.py, through the run's
 * provenance.json). A metadata.json written before that block names its data only in licence.data
 * ("HAM10000: Tschandl P., …"): the name is what precedes the first colon, the rest the citation.
 *
 * @param {object} metadata
 * @returns {{name: string|null, citation: string|null, licence: string|null, url: string|null,
 *   licence_url: string|null, population: string|null}} null where metadata.json does not say.
 */
export function datasetOf(metadata) {
  const known = {name: null, citation: null, licence: null, url: null, licence_url: null, population: null};
  if (metadata.dataset) return {...known, ...metadata.dataset};
  const line = metadata.licence?.data;
  const colon = typeof line === 'string' ? line.indexOf(': ') : -1;
  return colon > 0 ? {...known, name: line.slice(0, colon), citation: line.slice(colon + 2)} : known;
}

const COUNT_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven',
  'twelve'];

/** A count for a sentence: "seven" for 7, digits past twelve. */
export function countInWords(n) {
  return COUNT_WORDS[n] ?? String(n);
}

/** The user-facing message of each out-of-scope check. */
export const SCOPE_MESSAGES = {
  'not-a-lesion': "this doesn't look like a dermoscopic close-up of a skin lesion",
  distance: "this doesn't look like the dermoscopic close-ups the model was trained on",
  blur: 'the photo looks blurred',
  confidence: 'no class is confident',
  size: 'the image is very small',
};

/**
 * The thresholds of the out-of-scope checks: metadata.scope when the converter wrote one; otherwise only
 * the built-in checks, which need no measured threshold: an image whose smaller side is below the model's
 * input size (so it is enlarged), and a top probability below twice chance (2 / number of classes).
 *
 * @param {object} metadata
 * @returns {{distance_threshold: number|null, blur_threshold: number|null, confidence_threshold: number|null,
 *   min_side: number|null, source: 'metadata'|'built-in'}}
 */
export function scopeThresholds(metadata) {
  const scope = metadata.scope;
  if (scope) {
    return {out_of_scope_threshold: scope.out_of_scope_threshold ?? null,
      distance_threshold: scope.distance_threshold ?? null, blur_threshold: scope.blur_threshold ?? null,
      confidence_threshold: scope.confidence_threshold ?? null, min_side: scope.min_side ?? null, source: 'metadata'};
  }
  return {out_of_scope_threshold: null, distance_threshold: null, blur_threshold: null,
    confidence_threshold: 2 / metadata.classes.length,
    min_side: Math.min(metadata.input.height, metadata.input.width), source: 'built-in'};
}

/**
 * Judges whether an input is out of the model's scope. Pure: the signals come from skinlens.js
 * (outOfScope = the model's `out_of_scope` output, the probability that it is not a dermoscopic
 * close-up of a lesion; distance = its `feature_distance` output, a diagonal Mahalanobis distance of its
 * pooled features from the training images', about 1 for those; blur = variance of the Laplacian of
 * the input's luminance).
 *
 * @param {{outOfScope: number|null, distance: number|null, blur: number, topProbability: number,
 *   minSide: number}} signals outOfScope and distance are null when the model lacks that output.
 * @param {object} metadata
 * @returns {{outOfScope: number|null, distance: number|null, blur: number, topProbability: number, minSide: number,
 *   reasons: {check: 'not-a-lesion'|'distance'|'blur'|'confidence'|'size', message: string}[]}} reasons is
 *   empty when in scope.
 */
export function assessScope({outOfScope = null, distance, blur, topProbability, minSide}, metadata) {
  const t = scopeThresholds(metadata);
  const failed = {
    'not-a-lesion': outOfScope != null && t.out_of_scope_threshold != null && outOfScope > t.out_of_scope_threshold,
    distance: distance != null && t.distance_threshold != null && distance > t.distance_threshold,
    blur: t.blur_threshold != null && blur < t.blur_threshold,
    confidence: t.confidence_threshold != null && topProbability < t.confidence_threshold,
    size: t.min_side != null && minSide < t.min_side,
  };
  const reasons = Object.keys(failed).filter((check) => failed[check])
    .map((check) => ({check, message: SCOPE_MESSAGES[check]}));
  return {outOfScope, distance, blur, topProbability, minSide, reasons};
}

/**
 * Throws unless metadata.clinical (when present) describes a vector this page can build: every index
 * inside `size`, every field a number or a choice.
 *
 * @param {object} metadata
 */
export function checkClinicalContract(metadata) {
  const spec = metadata.clinical;
  if (!spec) return;
  const inRange = (i) => Number.isInteger(i) && i >= 0 && i < spec.size;
  const usable = typeof spec.name === 'string' && Number.isInteger(spec.size) && Array.isArray(spec.fields) &&
    spec.fields.every((field) => inRange(field.missing_index) && (field.kind === 'number' ?
      inRange(field.index) && Number.isFinite(field.scale) && Number.isFinite(field.min) && Number.isFinite(field.max) :
      field.kind === 'choice' && Array.isArray(field.values) && field.values.every((v) => inRange(v.index))));
  if (!usable) throw new SkinLensError('metadata-invalid', "metadata.json's clinical block is not one this page can use");
}

/**
 * The model's clinical input for a person's answers, built from metadata.clinical alone (the layout is
 * trainer/clinical.py's): a number field sets value × scale at its index, a choice sets its value's
 * index to 1, and a field left blank sets its missing_index to 1.
 *
 * @param {{[field: string]: number|string|null|undefined}} answers e.g. {age: 45, sex: 'female', site: 'back'};
 *   a field absent, null or '' is not given.
 * @param {object} metadata
 * @returns {{vector: number[], used: string[]}} the vector, and the names of the fields given.
 * @throws {RangeError} for a value the model does not know (an age out of range, an unknown site).
 */
export function clinicalVector(answers, metadata) {
  const spec = metadata.clinical;
  const vector = new Array(spec.size).fill(0);
  const used = [];
  for (const field of spec.fields) {
    const value = answers?.[field.name];
    if (value === undefined || value === null || value === '') {
      vector[field.missing_index] = 1;
      continue;
    }
    if (field.kind === 'number') {
      const number = Number(value);
      if (!Number.isFinite(number) || number < field.min || number > field.max) {
        throw new ImageError('invalid-answer', `${field.label}: please enter a number from ${field.min} to ${field.max}, ` +
          'or leave it blank.');
      }
      vector[field.index] = number * field.scale;
    } else {
      const choice = field.values.find((v) => v.id === value);
      if (!choice) throw new ImageError('invalid-answer', `${field.label}: "${value}" is not one of the choices.`);
      vector[choice.index] = 1;
    }
    used.push(field.name);
  }
  return {vector, used};
}
