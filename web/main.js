/**
 * SkinLens page: loads the classifier, runs its self-test, registers the service worker for offline use,
 * then classifies each photo added (chosen, dropped, pasted or taken) in turn. A file that cannot be read
 * shows its own message and the batch goes on. Results live in this page's memory only.
 *
 * `?backend=cpu` (or webgl, wasm) forces one TensorFlow.js backend, for comparing them.
 * Tests drive the page through `window.skinlens` =
 *   {ready, classifier, selfTest, readyMs, lastResults, classifyUrl, csv, serviceWorker}.
 */
import {load, selfTest} from './classifier.js';
import {resultsCsv} from './csv.js';
import {ImageError, decodeImage} from './imaging.js';
import * as ui from './ui.js';

const BACKENDS = ['wasm', 'webgl', 'cpu'];

/**
 * @typedef {object} Result
 * @property {string} file the file's name.
 * @property {number[]|null} probabilities in metadata.classes order; null on error.
 * @property {{id: string, name: string, probability: number}|null} top
 * @property {number[]|null} logits spatial mean of the activation maps (null without a cam output or on error).
 * @property {{risk: number, threshold: number, band: 'higher'|'lower'}|null} triage null on error or without
 *   metadata.screening.
 * @property {{distance: number|null, blur: number, topProbability: number, minSide: number,
 *   reasons: {check: string, message: string}[]}|null} scope the out-of-scope checks; null on error.
 * @property {number|null} distance the model's feature_distance output (scope.distance), for comparison with
 *   Python; null without that output or on error.
 * @property {number|null} blur variance of the Laplacian of the input's luminance (scope.blur).
 * @property {{[field: string]: number|string}} clinical the clinical answers this result used.
 * @property {string[]} clinicalUsed their names, e.g. ['age', 'site'] (empty when none were given).
 * @property {string|null} error a message for the user; null on success.
 * @property {number|null} ms time to classify, decoding excluded.
 * @property {string} classifiedAt ISO 8601 time.
 */

const skinlens = {
  ready: null, classifier: null, selfTest: null, readyMs: null, /** @type {Result[]} */ lastResults: [],
  classifyUrl, csv, serviceWorker: null,
};
window.skinlens = skinlens;

/** Decodes and classifies one file, shows its card, and returns its Result; never throws. */
async function classifyBlob(name, blob, position = {index: 0, total: 1}, answers = {}) {
  const {metadata} = skinlens.classifier;
  let bitmap = null;
  let cam = null;
  let result;
  try {
    bitmap = await decodeImage(blob, metadata.preprocess);
    const prediction = await skinlens.classifier.classifyBitmap(bitmap, answers);
    cam = prediction.cam;
    const {probabilities, top, logits, triage, scope, clinicalUsed, ms} = prediction;
    result = {file: name, probabilities, top, logits, triage, scope, distance: scope.distance, blur: scope.blur,
      clinical: Object.fromEntries(clinicalUsed.map((field) => [field, answers[field]])), clinicalUsed,
      error: null, ms};
  } catch (error) {
    // ImageErrors are the user's file, expected; anything else is a bug worth a stack trace.
    if (!(error instanceof ImageError)) console.error(error);
    result = {file: name, probabilities: null, top: null, logits: null, triage: null, scope: null, distance: null,
      blur: null, clinical: {}, clinicalUsed: [], error: error.message, ms: null};
  }
  result.classifiedAt = new Date().toISOString();
  ui.showResult(result, metadata, bitmap, cam, position);
  bitmap?.close();
  return result;
}

function readyMessage() {
  return 'Ready: choose, drop or paste photos of a skin spot.';
}

/** Classifies a batch of files, one after another, replacing the previous results. */
async function classifyFiles(files) {
  // The same answers for the whole batch, read once; they live in this call only.
  const {answers, error} = ui.clinicalAnswers(skinlens.classifier.metadata.clinical);
  if (error) {
    ui.setStatus('ready', `Not classified: ${error}`);
    return;
  }
  ui.setBusy(true);
  ui.clearResults();
  skinlens.lastResults = [];
  for (const [index, file] of files.entries()) {
    ui.setStatus('busy', `Classifying ${index + 1} of ${files.length}: ${file.name}`);
    skinlens.lastResults.push(await classifyBlob(file.name, file, {index, total: files.length}, answers));
  }
  const failed = skinlens.lastResults.filter((r) => r.error).length;
  const done = `Done: ${files.length - failed} of ${files.length} photo${files.length === 1 ? '' : 's'} classified` +
    (failed ? `, ${failed} could not be read.` : '.');
  ui.setStatus('ready', `${done} ${readyMessage()}`);
  ui.announce(done);
  ui.setBusy(false);
}

/**
 * The CSV of the last batch, and a file name for it.
 *
 * @returns {{text: string, fileName: string}}
 */
function csv() {
  const {metadata, backendDetail, modelSha256} = skinlens.classifier;
  const text = resultsCsv(skinlens.lastResults, {classes: metadata.classes, modelVersion: metadata.model.version,
    modelSha256, backend: backendDetail});
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return {text, fileName: `skinlens-results-${stamp}.csv`};
}

/**
 * Classifies the image at `url` (same origin) as if it had been chosen, and shows its card.
 *
 * @param {string} url relative to the page, e.g. 'golden/ISIC_0024306.jpg'.
 * @param {object} [answers] clinical answers, e.g. {age: 70, sex: 'male', site: 'face'}.
 * @returns {Promise<Result>}
 */
async function classifyUrl(url, answers = {}) {
  await skinlens.ready;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status}`);
  return classifyBlob(url.split('/').pop(), await response.blob(), {index: 0, total: 1}, answers);
}

/**
 * Registers sw.js, which precaches the app and this model for offline use. Its URL names the model
 * version, so a new model installs a new worker (and a new cache) while an unchanged one is left alone.
 */
async function registerServiceWorker(version) {
  if (!('serviceWorker' in navigator)) return 'offline use: not supported by this browser';
  try {
    const url = `sw.js?model=${encodeURIComponent(version)}`;
    const registration = await navigator.serviceWorker.register(url, {scope: './'});
    skinlens.serviceWorker = registration;
    await navigator.serviceWorker.ready;
    return 'works offline after this visit';
  } catch (error) {
    console.warn('service worker not registered:', error);
    return 'offline use: unavailable here';
  }
}

skinlens.ready = (async () => {
  const requested = new URLSearchParams(window.location.search).get('backend');
  const backends = BACKENDS.includes(requested) ? [requested] : BACKENDS;
  skinlens.classifier = await load('model/', {backends});
  const {metadata, backend, backendDetail} = skinlens.classifier;
  ui.showModel(metadata, {backend, backendDetail});
  ui.showClinical(metadata.clinical ?? null);
  ui.onExportCsv(csv);
  registerServiceWorker(metadata.model.version).then(ui.showOffline);
  ui.setStatus('loading', 'Checking this browser on the reference images…');
  skinlens.selfTest = await selfTest(skinlens.classifier);
  ui.showSelfTest(skinlens.selfTest);
  skinlens.readyMs = performance.now(); // from the start of navigation: model loaded, warmed up and self-tested
  ui.showReadyTime(skinlens.readyMs);
  ui.setStatus('ready', readyMessage());
  ui.onFilesChosen(classifyFiles);
})();
// Handled here, so that a failed load is a message on the page rather than an unhandled rejection.
skinlens.ready.catch((error) => ui.setStatus('error', `SkinLens could not start: ${error.message}`));
