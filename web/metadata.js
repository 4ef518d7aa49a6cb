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

// What metadata.json must hold for SkinLens to use it, here and in `trainer predict` alike: written rule for
// rule as converter/contract.py's FIELDS and check_metadata, with the same words; both are tested on the same
// list of malformed cases (tests/fixtures/malformed_metadata.json).
const isNumber = (v) => Number.isFinite(v);
const isWhole = (v) => Number.isInteger(v);
const isProbability = (v) => isNumber(v) && v >= 0 && v <= 1;
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
/** A file name inside the model folder: no folder part, nothing that leaves the folder. */
const isPlainName = (v) => typeof v === 'string' && !['', '.', '..'].includes(v) && !v.includes('/') &&
  !v.includes('\\');
const isSha256 = (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
const MISSING = Symbol('missing');
const get = (metadata, path) => path.split('.').reduce(
  (node, key) => (node !== MISSING && isObject(node) && own(node, key) ? node[key] : MISSING), metadata);
const present = (path) => (m) => ![MISSING, null].includes(get(m, path));
const ALWAYS = () => true;
const NEVER = () => false;

function usableClinical(spec) {
  if (!isObject(spec) || !isWhole(spec.size) || typeof spec.name !== 'string') return false;
  const inRange = (i) => isWhole(i) && i >= 0 && i < spec.size;
  return Array.isArray(spec.fields) && spec.fields.every((f) => isObject(f) && inRange(f.missing_index) &&
    (f.kind === 'number' ? inRange(f.index) && ['scale', 'min', 'max'].every((k) => isNumber(f[k])) :
      f.kind === 'choice' && Array.isArray(f.values) && f.values.every((v) => isObject(v) && inRange(v.index))));
}

function usableKinds(byKind) {
  return isObject(byKind) && Object.values(byKind).every((e) => isObject(e) && isProbability(e.threshold) &&
    (e.without_clinical == null || (isObject(e.without_clinical) && isProbability(e.without_clinical.threshold))));
}

const goldenFile = (v) => typeof v === 'string' && v.startsWith('golden/') && !v.includes('\\') &&
  v.split('/').every((part) => !['', '.', '..'].includes(part));

/** [path, test(value, metadata), what it must be, when it must be there]: one absent or null otherwise is let be. */
const FIELDS = [
  ['model.format', (v) => v === 'tfjs-graph-model', '"tfjs-graph-model"', ALWAYS],
  ['model.version', (v) => typeof v === 'string', 'a string', ALWAYS],
  ['model.files', (v) => isObject(v) && Object.keys(v).length > 0 &&
    Object.entries(v).every(([k, s]) => isPlainName(k) && isSha256(s)), 'an object of file names and their sha256s',
  ALWAYS],
  ['model.model_json', (v, m) => isPlainName(v) && own(m.model.files, v), 'the name of a file in model.files', ALWAYS],
  ['model.total_bytes', (v) => isWhole(v) && v > 0, 'a positive whole number', ALWAYS],
  ['input.name', (v) => typeof v === 'string', 'a tensor name', ALWAYS],
  ['input.height', (v) => isWhole(v) && v > 0, 'a positive whole number', ALWAYS],
  ['input.width', (v) => isWhole(v) && v > 0, 'a positive whole number', ALWAYS],
  ['input.channels', (v) => v === 3, '3', ALWAYS],
  ['input.layout', (v) => v === 'NHWC', '"NHWC"', ALWAYS],
  ['input.dtype', (v) => v === 'float32', '"float32"', ALWAYS],
  ['input.value_range', (v) => Array.isArray(v) && v.length === 2 && v[0] === 0 && v[1] === 255,
    '[0, 255]: SkinLens feeds raw pixels', ALWAYS],
  ['outputs.probabilities', (v) => typeof v === 'string', 'a tensor name', ALWAYS],
  ['preprocess.exif_orientation', (v) => v === true, 'true', ALWAYS],
  ['preprocess.color_space_conversion', (v) => v === 'none', '"none"', ALWAYS],
  ['preprocess.alpha_background', (v) => Array.isArray(v) && v.length === 3 && v.every(isNumber), 'three numbers',
    ALWAYS],
  ['preprocess.resize.method', (v) => v === 'integer-average-pool-then-bilinear',
    '"integer-average-pool-then-bilinear"', ALWAYS],
  ['preprocess.resize.aspect', (v) => v === 'stretch', '"stretch"', ALWAYS],
  ['preprocess.resize.half_pixel_centers', (v) => v === true, 'true', ALWAYS],
  ['preprocess.resize.align_corners', (v) => v === false, 'false', ALWAYS],
  ['preprocess.resize.antialias', (v) => v === false, 'false', ALWAYS],
  ['preprocess.max_bytes', (v) => isNumber(v) && v > 0, 'a positive number', ALWAYS],
  ['preprocess.max_pixels', (v, m) => isNumber(v) && v >= m.input.height * m.input.width,
    'a number of pixels no smaller than input.height × input.width', ALWAYS],
  ['preprocess.min_side', (v) => isNumber(v) && v >= 0, 'a number', ALWAYS],
  ['classes', (v) => Array.isArray(v) && v.length > 0 &&
    v.every((c) => isObject(c) && typeof c.id === 'string' && typeof c.name === 'string') &&
    new Set(v.map((c) => c.id)).size === v.length, 'a list of {id, name}, each id once', ALWAYS],
  ['decision.class_log_weights', (v, m) => Array.isArray(v) && v.length === m.classes.length && v.every(isNumber),
    'one number per class', present('decision')],
  ['screening.malignant_classes', (v, m) => Array.isArray(v) && v.length > 0 &&
    v.every((id) => typeof id === 'string' && m.classes.some((c) => c.id === id)), 'a list of ids from classes',
  present('screening')],
  ['screening.threshold', isProbability, 'a number from 0 to 1', present('screening')],
  ['screening.without_clinical.threshold', isProbability, 'a number from 0 to 1',
    present('screening.without_clinical')],
  ['screening.by_kind', usableKinds, 'an object of picture kinds, each with a threshold from 0 to 1', NEVER],
  ['picture_kinds', (v) => Array.isArray(v) && v.length === 2 &&
    v.every((k) => isObject(k) && typeof k.id === 'string' && typeof k.name === 'string'),
  'two kinds of picture, each {id, name}', present('screening.by_kind')],
  ['picture_kind_photo_from', isProbability, 'a number from 0 to 1', present('screening.by_kind')],
  ['clinical', usableClinical, 'a block SkinLens can use (every index inside size, every field a number or a choice)',
    NEVER],
  ...['out_of_scope_threshold', 'distance_threshold', 'blur_threshold', 'dark_threshold', 'confidence_threshold',
    'min_side'].map((key) => [`scope.${key}`, isNumber, 'a number or null', NEVER]),
  ['golden', (v, m) => Array.isArray(v) && v.every((g) => isObject(g) && goldenFile(g.file) && isSha256(g.sha256) &&
    Array.isArray(g.probabilities) && g.probabilities.length === m.classes.length),
  'a list of {file under golden/, sha256, one probability per class}', NEVER],
];

/**
 * Throws, naming the first field SkinLens cannot use, unless metadata.json has every field the page reads, of
 * the right kind; converter/contract.py check_metadata refuses the same, in the same words.
 *
 * @param {object} metadata
 */
export function checkMetadata(metadata) {
  if (!isObject(metadata)) {
    throw new SkinLensError('metadata-invalid', 'metadata.json is not a JSON object');
  }
  if (metadata.schema_version !== 1) {
    throw new SkinLensError('unsupported-model', "metadata.json's schema_version is not 1, the only one SkinLens reads");
  }
  for (const [path, valid, what, required] of FIELDS) {
    const value = get(metadata, path);
    if ((value === MISSING || value === null) && !required(metadata)) continue;
    if (value === MISSING || !valid(value, metadata)) {
      throw new SkinLensError('metadata-invalid', `metadata.json is not usable: ${path} is ` +
        `${value === MISSING ? 'missing' : 'wrong'} (it must be ${what})`);
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
 * The screening rule that applies to one picture: metadata.screening's own, or, for a model that tells kinds
 * of picture apart, that kind's (screening.by_kind[kind]: its threshold, risk ranges and figures, chosen on
 * the validation pictures the model judged to be of that kind); then, with every clinical field blank, its
 * without_clinical threshold and ranges.
 *
 * @param {object} metadata
 * @param {{kind?: string|null, photoOnly?: boolean}} [options] kind: the picture kind's id (pictureKindOf).
 * @returns {{threshold: number, risk_bins: object[]|null, validation: object|null, test: object|null,
 *   few_cancers: boolean, n_validation_cancers: number|null, kind: string|null, photoOnly: boolean}|null}
 *   null when metadata.json has no screening block.
 */
export function screeningRule(metadata, {kind = null, photoOnly = false} = {}) {
  const screening = metadata.screening;
  if (!screening) return null;
  const own = kind ? screening.by_kind?.[kind] : null;
  const base = own ?? screening;
  const blank = photoOnly && Boolean(metadata.clinical) && base.without_clinical ? base.without_clinical : null;
  return {threshold: (blank ?? base).threshold, risk_bins: (blank ?? base).risk_bins ?? null,
    validation: (blank ?? base).validation ?? null, test: blank ? blank.test ?? null : base.test ?? null,
    few_cancers: Boolean(own?.few_cancers), n_validation_cancers: own?.n_validation_cancers ?? null,
    kind: own ? kind : null, photoOnly: Boolean(blank)};
}

/**
 * The figures of the validated threshold to show users: the test split's, else the validation split's; for
 * a picture kind, the test pictures of that kind (trainer/kinds.py measure).
 *
 * @param {object} metadata
 * @param {{photoOnly?: boolean, kind?: string|null}} [options] photoOnly: the figures of the threshold for photos
 *   classified with every clinical field blank (screening.without_clinical), where the model has one.
 * @returns {{split: 'test'|'validation', sensitivity: number, specificity: number, n_malignant: number,
 *   n_benign: number, auc?: number, kind: string|null, few_cancers: boolean}|null} null when metadata.json has
 *   no screening block.
 */
export function screeningFigures(metadata, {photoOnly = false, kind = null} = {}) {
  const rule = screeningRule(metadata, {kind, photoOnly});
  if (!rule) return null;
  const extra = {kind: rule.kind, few_cancers: rule.few_cancers, n_validation_cancers: rule.n_validation_cancers};
  if (rule.test?.sensitivity != null) return {split: 'test', ...rule.test, ...extra};
  if (rule.validation?.sensitivity != null) return {split: 'validation', ...rule.validation, ...extra};
  return null;
}

/**
 * The kind of picture the model judged an input to be, from its picture_kind output (the probability
 * that it is an ordinary photo rather than a dermoscopic close-up) and metadata.picture_kinds.
 *
 * @param {number|null} photoProbability the picture_kind output; null for a model without one.
 * @param {object} metadata
 * @returns {{id: string, name: string, probability: number}|null} null for a model that does not tell kinds apart.
 */
export function pictureKindOf(photoProbability, metadata) {
  const kinds = metadata.picture_kinds;
  if (photoProbability == null || !Array.isArray(kinds) || kinds.length !== 2) return null;
  const [dermoscopic, photo] = kinds;
  const isPhoto = photoProbability >= metadata.picture_kind_photo_from;
  return {...(isPhoto ? photo : dermoscopic), probability: photoProbability};
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
 * (already calibrated: the temperature is inside the graph), compared with the validated threshold of the
 * picture's rule (screeningRule): its kind's, where the model tells kinds of picture apart, and for a model
 * with a clinical input classified with every field blank, the photo-only one (their risk scores spread
 * differently; each threshold was chosen on validation for the same sensitivity).
 *
 * @param {number[]} probabilities in metadata.classes order.
 * @param {object} metadata
 * @param {string[]} [clinicalUsed=[]] the clinical fields given (skinlens.js Result.clinicalUsed).
 * @param {string|null} [kind=null] the picture kind's id (pictureKindOf).
 * @returns {{risk: number, threshold: number, band: 'higher'|'lower', photoOnly: boolean, kind: string|null,
 *   fewCancers: boolean}|null} null without a screening block; photoOnly says the photo-only threshold was
 *   used, fewCancers that the kind's figures rest on few validation cancers.
 */
export function triage(probabilities, metadata, clinicalUsed = [], kind = null) {
  const rule = screeningRule(metadata, {kind, photoOnly: clinicalUsed.length === 0});
  if (!rule) return null;
  const malignant = new Set(metadata.screening.malignant_classes);
  const risk = metadata.classes.reduce((sum, cls, i) => sum + (malignant.has(cls.id) ? probabilities[i] : 0), 0);
  const threshold = rule.threshold;
  return {risk, threshold, band: risk >= threshold ? 'higher' : 'lower', photoOnly: rule.photoOnly,
    kind: rule.kind, fewCancers: rule.few_cancers};
}

/**
 * What a malignant-risk score means, from the picture's rule's risk_bins (screeningRule): the validation
 * images that scored in the same range, and how many of them were malignant (trainer/metrics.py risk_bins).
 *
 * @param {number} risk
 * @param {object} metadata
 * @param {string[]} [clinicalUsed=[]] with none given, a model with a clinical input uses its photo-only bins.
 * @param {string|null} [kind=null] the picture kind's id: that kind's bins, where the model has them.
 * @returns {{from: number, to: number, n: number, malignant: number, rate: number}|null} null when metadata.json
 *   has no bins (a model converted before they existed).
 */
export function riskBin(risk, metadata, clinicalUsed = [], kind = null) {
  const bins = screeningRule(metadata, {kind, photoOnly: clinicalUsed.length === 0})?.risk_bins;
  if (!Array.isArray(bins) || bins.length === 0) return null;
  return bins.find((bin, i) => risk >= bin.from && (risk < bin.to || i === bins.length - 1)) ?? null;
}

/**
 * Every source of the model's training data (metadata.datasets; one, datasetOf's, for a model converted
 * before several were possible).
 *
 * @param {object} metadata
 * @returns {object[]} datasetOf's shape for each.
 */
export function datasetsOf(metadata) {
  const known = {name: null, citation: null, licence: null, url: null, licence_url: null, population: null};
  if (Array.isArray(metadata.datasets) && metadata.datasets.length) {
    return metadata.datasets.map((dataset) => ({...known, ...dataset}));
  }
  return [datasetOf(metadata)];
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

/**
 * What the page says a model has and has not seen ("What SkinLens has not seen"), from metadata.json alone:
 * each training source with who it shows (datasetsOf), the kinds of picture it knows (picture_kinds), and for a
 * model that tells kinds apart, each kind's test sensitivity at its own threshold (screening.by_kind[].test).
 *
 * @param {object} metadata
 * @returns {{sources: string, kinds: string, figures: string[]}} sentences for the page.
 */
export function seenAndUnseen(metadata) {
  const sources = datasetsOf(metadata).map((source) => (source.population ?
    `${source.name ?? 'its training data'} (${source.population})` : source.name ?? 'its training images'));
  const learnt = sources.length > 1 ? `${sources.slice(0, -1).join(', ')} and ${sources.at(-1)}` : sources[0];
  const kinds = Array.isArray(metadata.picture_kinds) && metadata.screening?.by_kind ?
    `It knows ${metadata.picture_kinds.map((kind) => `${kind.name}s`).join(' and ')} of a spot on the skin. ` +
      'Rashes, nails, hair and the inside of the mouth are outside what it knows.' :
    'It knows dermoscopic close-ups, taken through a skin microscope. Ordinary phone photos, rashes, nails, hair ' +
      'and the inside of the mouth are outside what it knows.';
  const names = Object.fromEntries((metadata.picture_kinds ?? []).map((kind) => [kind.id, kind.name]));
  const figures = Object.entries(metadata.screening?.by_kind ?? {}).flatMap(([id, entry]) => {
    const test = entry.test;
    if (test?.sensitivity == null) return [];
    return [`On ${names[id] ?? id}s it had not seen (${test.n} pictures, ${test.n_malignant} of them cancers), it ` +
      `called ${Math.round(test.sensitivity * 100)} of every 100 cancers “higher concern”` +
      (test.answered != null ? ` and answered ${Math.round(test.answered * 100)} of every 100 pictures` : '') +
      (entry.few_cancers ? '; these figures rest on few cancers.' : '.')];
  });
  return {sources: `It learned from ${learnt}.`, kinds, figures};
}

const COUNT_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven',
  'twelve'];

/** A count for a sentence: "seven" for 7, digits past twelve. */
export function countInWords(n) {
  return COUNT_WORDS[n] ?? String(n);
}

/** The user-facing message of each out-of-scope check. */
export const SCOPE_MESSAGES = {
  'not-a-lesion': "SkinLens found no spot on the skin in this picture",
  distance: 'the picture is unlike those the model learnt from: the spot may be too far away or too small in the ' +
    'frame (take it again closer, the spot filling the middle of the frame)',
  blur: 'the photo looks blurred (hold the phone still, tap the spot on the screen to focus, and take it again)',
  dark: 'the photo is too dark (take it again in daylight or a bright room, with no flash glare on the spot)',
  confidence: 'no type is confident',
  size: 'the image is very small (use the original photo, not a thumbnail or a screenshot of it)',
};

/** The checks that say a picture of a spot is unusable as taken (not that it is no spot): their advice comes first. */
export const RETAKE_CHECKS = ['dark', 'blur', 'size'];

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
      confidence_threshold: scope.confidence_threshold ?? null, min_side: scope.min_side ?? null,
      dark_threshold: scope.dark_threshold ?? null, source: 'metadata'};
  }
  return {out_of_scope_threshold: null, distance_threshold: null, blur_threshold: null, dark_threshold: null,
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
 * @param {{outOfScope: number|null, distance: number|null, blur: number, brightness?: number|null,
 *   topProbability: number, minSide: number}} signals outOfScope and distance are null when the model lacks
 *   that output; brightness is the mean luminance of the model's input (0..255, trainer/scope.py brightness).
 * @param {object} metadata
 * @returns {{outOfScope: number|null, distance: number|null, blur: number, topProbability: number, minSide: number,
 *   reasons: {check: 'not-a-lesion'|'distance'|'blur'|'dark'|'confidence'|'size', message: string}[]}} reasons is
 *   empty when in scope.
 */
export function assessScope({outOfScope = null, distance, blur, brightness = null, topProbability, minSide}, metadata) {
  const t = scopeThresholds(metadata);
  const failed = {
    'not-a-lesion': outOfScope != null && t.out_of_scope_threshold != null && outOfScope > t.out_of_scope_threshold,
    distance: distance != null && t.distance_threshold != null && distance > t.distance_threshold,
    blur: t.blur_threshold != null && blur < t.blur_threshold,
    dark: t.dark_threshold != null && brightness != null && brightness < t.dark_threshold,
    confidence: t.confidence_threshold != null && topProbability < t.confidence_threshold,
    size: t.min_side != null && minSide < t.min_side,
  };
  const reasons = Object.keys(failed).filter((check) => failed[check])
    .map((check) => ({check, message: SCOPE_MESSAGES[check]}));
  return {outOfScope, distance, blur, brightness, topProbability, minSide, reasons};
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
