/**
 * SkinLens page: loads the model (skinlens.js), runs its self-test, registers the service worker for
 * offline use, then classifies the photos added (chosen, dropped, pasted or taken): one on the page's
 * thread, a batch on every core (pool.js: the page and same-origin inference workers, each taking the next
 * photo), shown in the order chosen. A file that cannot be read shows its own message and the batch goes
 * on. Results live in this page's memory only.
 * "Try your own model" swaps in a model folder chosen from disk (read and checked by the same load(),
 * never uploaded); one that is refused leaves the model in use as it was.
 *
 * `?backend=cpu` (or webgl, wasm) forces one TensorFlow.js backend, and `?threads=N` the threads a batch
 * uses (1: the page's alone), for comparing them.
 *
 * Nothing is put on `window`. The page says what happened through events on `document`, for whoever
 * embeds or tests it: `skinlens:ready` ({version, backend, selfTest, readyMs}; sent once the self-test has
 * run, while readyMs is when the photo inputs were enabled, before it), `skinlens:result` (one
 * PageResult per file, once its card is shown), `skinlens:batch` ({results, threads}, when a batch is
 * done; threads: how many threads classified its photos),
 * `skinlens:error` ({message, code}) when the model cannot be loaded, and `skinlens:model` when a model
 * was chosen or the shipped one taken back: {version, own, selfTest} once it is in use and self-tested, or
 * {error: {message, code}} when a chosen one was refused.
 */
import {resultsCsv} from './csv.js';
import {bitmapToPixels} from './imaging.js';
import {MIN_BATCH, WorkerFailure, runQueue, startPool, threadCount} from './pool.js';
import {timeLeftMs} from './progress.js';
import {ImageError, SkinLensError, load} from './skinlens.js';
import * as ui from './ui.js';

const BACKENDS = ['wasm', 'webgl', 'cpu'];

/**
 * @typedef {object} PageResult a skinlens.js Result (its fields null when the file could not be read),
 *   with what the page adds:
 * @property {string} file the file's name.
 * @property {string} thread which thread classified it: 'page', or pool.js's 'worker 1', 'worker 2'…
 * @property {{[field: string]: number|string}} clinical the clinical answers this result used.
 * @property {string|null} error a message for the user; null on success.
 * @property {string|null} code the error's code (errors.js); null on success.
 * @property {string} classifiedAt ISO 8601 time.
 */

const FAILED = {classes: null, top: null, risk: null, band: null, threshold: null, warnings: null, cam: null,
  clinicalUsed: [], signals: null, timing: null};

/** The model in use, and the last batch's results (kept for the CSV until the next batch, model or reload). */
let model = null;
/** web/model, kept while a chosen model is tried, so that going back to it needs no download. */
let shipped = null;
/** The backends to try, from ?backend= (start). */
let backends = BACKENDS;
/** The workers for batches (pool.js), of the model they were started for; null until a batch needs them. */
let pool = null;
/** The self-test, started once the page is ready; every batch waits for it and is refused if it failed. */
let selfTestDone = null;
let selfTestPassed = false;
/** Whether a batch is being classified: the model is not changed under it. */
let batching = false;
/** @type {PageResult[]} */
let lastResults = [];

function emit(name, detail) {
  document.dispatchEvent(new CustomEvent(`skinlens:${name}`, {detail}));
}

/** The page's own thread, as pool.js's workers are: it classifies decoded pixels with the model in use. */
const PAGE_THREAD = {name: 'page', ready: Promise.resolve(true), classify: (pixels, answers) => model.classify(pixels, answers)};

/**
 * Decodes one file here (the card shows the photo as the model saw it) and classifies its pixels on
 * `thread`; returns its PageResult and the decoded bitmap (null when it could not be decoded), for
 * showing. Rejects only with pool.js's WorkerFailure, when the thread broke before answering.
 */
async function classifyFile(file, answers, thread) {
  let bitmap = null;
  let result;
  const start = performance.now();
  try {
    bitmap = await model.decode(file);
    const pixels = bitmapToPixels(bitmap, model.metadata.preprocess.alpha_background);
    const decodeMs = performance.now() - start;
    const classified = await thread.classify(pixels, answers);
    result = {...classified, file: file.name, thread: thread.name, error: null, code: null,
      clinical: Object.fromEntries(classified.clinicalUsed.map((field) => [field, answers[field]])),
      timing: {...classified.timing, decodeMs}};
  } catch (error) {
    if (error instanceof WorkerFailure) {
      bitmap?.close();
      throw error;
    }
    // ImageErrors are the user's file, expected; anything else is a bug worth a stack trace.
    if (!(error instanceof ImageError)) console.error(error);
    result = {...FAILED, file: file.name, thread: thread.name, error: error.message, code: error.code ?? null,
      clinical: {}};
  }
  result.classifiedAt = new Date().toISOString();
  return {result, bitmap};
}

/** How many threads a batch may use: the page's alone with one asked for or on WebGL (one GPU to share). */
function threadsAllowed() {
  return model.backend === 'webgl' ? 1 : threadCount(window.location.search);
}

/** Shows how many threads classify a batch, once the workers have started or failed to. */
function showThreads() {
  const allowed = threadsAllowed();
  if (allowed === 1) {
    ui.showThreads('batches on 1 thread');
  } else if (pool?.model !== model) {
    ui.showThreads(`batches on up to ${allowed} threads (from the first of ${MIN_BATCH} photos or more)`);
  } else {
    const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
    const ready = pool.workers.filter((worker) => worker.loaded && !worker.broken).length;
    const failed = pool.workers.filter((worker) => worker.broken).length;
    const threads = ready ? `${plural(ready + 1, 'thread')} (the page and ${plural(ready, 'worker')})` : '1 thread';
    const stopped = failed ? ` (${plural(failed, 'worker')} could not start or stopped: see the browser console)` : '';
    ui.showThreads(`batches on ${threads}${stopped}`);
  }
}

/**
 * The threads for a batch of `count` photos: the page's, and the workers of pool.js (started for a batch of
 * at least MIN_BATCH photos, then kept for this model) unless one thread is asked for or the backend is
 * WebGL, whose one GPU more threads would only share.
 */
function batchThreads(count) {
  const workers = threadsAllowed() - 1;
  if (workers < 1 || count < 2) return [PAGE_THREAD];
  if (pool?.model !== model) {
    if (count < MIN_BATCH) return [PAGE_THREAD];
    pool?.dispose();
    pool = startPool(model, workers);
    for (const worker of pool.workers) worker.ready.then(showThreads);
  }
  return [PAGE_THREAD, ...pool.workers.filter((worker) => !worker.broken)];
}

const SELF_TEST_REFUSAL = 'Not classifying: this browser failed the self-test on the reference images, ' +
  'so its answers cannot be trusted. Try another browser or an up-to-date one.';

function readyMessage() {
  return 'Ready: choose, drop or paste photos of a skin spot.';
}

/** Classifies a batch of files, one after another, replacing the previous results. */
async function classifyFiles(files) {
  // The same answers for the whole batch, read once; they live in this call only.
  const {answers, error} = ui.clinicalAnswers(model.metadata.clinical);
  if (error) {
    ui.setStatus('ready', `Not classified: ${error}`);
    return;
  }
  ui.setBusy(true);
  ui.setModelChoice(false);
  batching = true;
  try {
    await classifyBatch(files, answers);
  } finally {
    batching = false;
  }
}

/** classifyFiles once the answers are read and the inputs disabled. */
async function classifyBatch(files, answers) {
  if (!selfTestPassed) ui.setStatus('busy', 'Checking this browser on the reference images first…');
  if (!(await selfTestDone).passed) {
    ui.setStatus('error', SELF_TEST_REFUSAL);
    return; // the inputs stay disabled: nothing this browser computes can be trusted
  }
  ui.clearResults();
  lastResults = [];
  const started = performance.now();
  const progress = (done) => files.length > 1 &&
    ui.showBatchProgress(done, files.length, timeLeftMs(performance.now() - started, done, files.length));
  const threads = batchThreads(files.length);
  // Cards are shown in the order of the files, each as soon as those before it are shown too.
  const finished = new Array(files.length);
  let done = 0;
  const showFinished = () => {
    while (finished[lastResults.length]) {
      const index = lastResults.length;
      const {result, bitmap} = finished[index];
      ui.showResult(result, model.metadata, bitmap, {index, total: files.length});
      bitmap?.close();
      lastResults.push(result);
      emit('result', result);
    }
  };
  const status = () => ui.setStatus('busy', files.length === 1 ? `Classifying ${files[0].name}` :
    `Classifying ${files.length} photos: ${done} done`);
  status();
  progress(0);
  await runQueue(files.keys(), threads, async (index, thread) => {
    finished[index] = await classifyFile(files[index], answers, thread);
    done += 1;
    status();
    progress(done);
    showFinished();
  });
  progress(files.length);
  showThreads(); // a worker may have stopped during the batch
  const failed = lastResults.filter((r) => r.error).length;
  const used = new Set(lastResults.map((result) => result.thread)).size;
  const summary = `Done: ${files.length - failed} of ${files.length} photo${files.length === 1 ? '' : 's'} classified` +
    (used > 1 ? ` on ${used} threads` : '') + (failed ? `, ${failed} could not be read.` : '.');
  ui.setStatus('ready', `${summary} ${readyMessage()}`);
  ui.announce(summary);
  ui.setBusy(false);
  ui.setModelChoice(true);
  if (files.length === 1) ui.focusResult();
  emit('batch', {results: lastResults, threads: used});
}

/**
 * The CSV of the last batch, and a file name for it.
 *
 * @returns {{text: string, fileName: string}}
 */
function csv() {
  const text = resultsCsv(lastResults, {classes: model.metadata.classes, modelVersion: model.version,
    modelSha256: model.digest, backend: model.backendDetail});
  const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return {text, fileName: `skinlens-results-${stamp}.csv`};
}

/**
 * Registers sw.js for offline use, named by the release in precache.json (a hash of every app and model
 * file), so that any changed file installs a new worker, which replaces the offline copy only once it
 * holds every file of the new release.
 *
 * @returns {Promise<string>} what to tell the user about offline use.
 */
async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return 'offline use: not supported by this browser';
  try {
    const response = await fetch('precache.json', {cache: 'no-cache'});
    if (!response.ok) throw new Error(`precache.json: HTTP ${response.status}`);
    const {release} = await response.json();
    const registration = await navigator.serviceWorker.register(`sw.js?release=${encodeURIComponent(release)}`,
      {scope: './'});
    const worker = registration.installing ?? registration.waiting;
    if (worker) {
      await new Promise((resolve, reject) => {
        const settle = () => {
          if (worker.state === 'activated') resolve();
          if (worker.state === 'redundant') reject(new Error(`release ${release} could not be copied for offline use`));
        };
        worker.addEventListener('statechange', settle);
        settle();
      });
    }
    return 'works offline after this visit';
  } catch (error) {
    console.warn('service worker not registered:', error);
    return 'offline use: unavailable here';
  }
}

/**
 * Puts a loaded model in use: its name, data and clinical fields on the page, the previous model's results
 * cleared (they came from another model), and its self-test run. A chosen model replaced by another is
 * freed; the shipped one is kept.
 *
 * @returns {Promise<SelfTest>} the self-test, once run and shown.
 */
async function putInUse(next, {own}) {
  if (model && model !== shipped && model !== next) model.dispose();
  pool?.dispose();
  pool = null;
  model = next;
  ui.showModel(model.metadata, model);
  ui.showDataset(model.metadata);
  ui.showClinical(model.metadata.clinical ?? null);
  ui.showModelInUse(model.metadata, {own});
  ui.clearResults();
  showThreads();
  lastResults = [];
  selfTestPassed = false;
  selfTestDone = model.selfTest();
  return selfTestDone;
}

/** Shows a finished self-test and readies the page for photos, or refuses them when it failed. */
function settle(selfTest) {
  selfTestPassed = selfTest.passed;
  ui.showSelfTest(selfTest);
  ui.setBusy(!selfTest.passed);
  ui.setStatus(selfTest.passed ? 'ready' : 'error', selfTest.passed ? readyMessage() : SELF_TEST_REFUSAL);
  ui.setModelChoice(true); // also after a failed self-test: another model, or the shipped one, may pass
}

/**
 * Loads a model from files the user chose and puts it in use; a model that cannot be loaded (missing or
 * altered file, invalid metadata.json) is refused in words and the model in use stays, as it was.
 */
async function chooseModel(files) {
  ui.setModelChoice(false);
  ui.setBusy(true);
  ui.setStatus('busy', `Loading your model from ${files.length} chosen file${files.length === 1 ? '' : 's'}…`);
  let next;
  try {
    next = await load(files, {backends, onProgress: ui.showDownload});
  } catch (error) {
    if (!(error instanceof SkinLensError)) console.warn(error); // e.g. a model.json tfjs cannot read
    ui.hideDownload();
    ui.showModelInUse(model.metadata, {own: model !== shipped, error: error.message});
    settle(await selfTestDone);
    emit('model', {error: {message: error.message, code: error.code ?? null}});
    return;
  }
  ui.hideDownload();
  const selfTest = await putInUse(next, {own: true});
  settle(selfTest);
  emit('model', {version: model.version, own: true, selfTest});
}

/** Goes back to the shipped model (kept in memory, so offline too). */
async function useShipped() {
  ui.setModelChoice(false);
  ui.setBusy(true);
  const selfTest = await putInUse(shipped, {own: false});
  settle(selfTest);
  emit('model', {version: model.version, own: false, selfTest});
}

async function start() {
  const requested = new URLSearchParams(window.location.search).get('backend');
  backends = BACKENDS.includes(requested) ? [requested] : BACKENDS;
  shipped = await load('model/', {backends, onProgress: ui.showDownload});
  ui.hideDownload();
  ui.onExportCsv(csv);
  ui.setUpBatch();
  // Ready once the model is loaded, checked and warmed up: the self-test runs right after, off the path to
  // ready, and a batch chosen before it ends waits for it (classifyFiles) and is refused if it fails.
  const readyMs = performance.now(); // from the start of navigation
  const selfTestRun = putInUse(shipped, {own: false});
  ui.showReadyTime(readyMs);
  ui.setStatus('ready', readyMessage());
  ui.onFilesChosen(classifyFiles);
  ui.onModelChosen(chooseModel, useShipped);
  registerServiceWorker().then(ui.showOffline);
  const selfTest = await selfTestRun;
  if (selfTest.passed) {
    // Not settle(): a batch chosen during the self-test may be running, and keeps the page busy until done.
    ui.showSelfTest(selfTest);
    selfTestPassed = true;
    if (!batching) ui.setModelChoice(true);
  } else {
    settle(selfTest);
  }
  emit('ready', {version: model.version, backend: model.backendDetail, selfTest, readyMs});
}

// A failed load is a message on the page rather than an unhandled rejection.
start().catch((error) => {
  ui.setStatus('error', `SkinLens could not start: ${error.message}`);
  emit('error', {message: error.message, code: error.code ?? null});
});
