/**
 * SkinLens page: loads the classifier, then classifies each chosen photo in turn. A file that cannot be
 * read shows its own message and the batch goes on.
 *
 * `?backend=cpu` (or webgl, wasm) forces one TensorFlow.js backend, for comparing them.
 * Tests drive the page through `window.skinlens` = {ready, classifier, lastResults, classifyUrl}.
 */
import {load} from './classifier.js';
import {ImageError, decodeImage} from './imaging.js';
import * as ui from './ui.js';

/**
 * @typedef {object} Result
 * @property {string} file the file's name.
 * @property {number[]|null} probabilities in metadata.classes order; null on error.
 * @property {{id: string, name: string, probability: number}|null} top
 * @property {string|null} error a message for the user; null on success.
 * @property {number|null} ms time to classify, decoding excluded.
 */

const skinlens = {ready: null, classifier: null, /** @type {Result[]} */ lastResults: [], classifyUrl};
window.skinlens = skinlens;

/** Decodes and classifies one file, shows its card, and returns its Result; never throws. */
async function classifyBlob(name, blob) {
  const {metadata} = skinlens.classifier;
  let bitmap = null;
  let result;
  try {
    bitmap = await decodeImage(blob, metadata.preprocess);
    const {probabilities, top, ms} = await skinlens.classifier.classifyBitmap(bitmap);
    result = {file: name, probabilities, top, error: null, ms};
  } catch (error) {
    // ImageErrors are the user's file, expected; anything else is a bug worth a stack trace.
    if (!(error instanceof ImageError)) console.error(error);
    result = {file: name, probabilities: null, top: null, error: error.message, ms: null};
  }
  ui.showResult(result, metadata.classes, bitmap);
  bitmap?.close();
  return result;
}

function readyMessage() {
  return `Ready (${skinlens.classifier.backend} backend): choose one or more photos of a skin spot.`;
}

/** Classifies a batch of chosen files, one after another, replacing the previous results. */
async function classifyFiles(files) {
  ui.setBusy(true);
  ui.clearResults();
  skinlens.lastResults = [];
  for (const [index, file] of files.entries()) {
    ui.setStatus('busy', `Classifying ${index + 1} of ${files.length}: ${file.name}`);
    skinlens.lastResults.push(await classifyBlob(file.name, file));
  }
  ui.setStatus('ready', readyMessage());
  ui.setBusy(false);
}

/**
 * Classifies the image at `url` (same origin) as if it had been chosen, and shows its card.
 *
 * @param {string} url relative to the page, e.g. 'golden/ISIC_0024306.jpg'.
 * @returns {Promise<Result>}
 */
async function classifyUrl(url) {
  await skinlens.ready;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status}`);
  return classifyBlob(url.split('/').pop(), await response.blob());
}

skinlens.ready = (async () => {
  const backend = new URLSearchParams(window.location.search).get('backend');
  skinlens.classifier = await load('model/', backend ? {backends: [backend]} : undefined);
  ui.showModel(skinlens.classifier.metadata, skinlens.classifier.backend);
  ui.setStatus('ready', readyMessage());
  ui.onFilesChosen(classifyFiles);
})();
// Handled here, so that a failed load is a message on the page rather than an unhandled rejection.
skinlens.ready.catch((error) => ui.setStatus('error', `SkinLens could not start: ${error.message}`));
