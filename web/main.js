/**
 * SkinLens page: loads the model (skinlens.js), runs its self-test, registers the service worker for
 * offline use, then classifies the photos added (chosen, dropped, pasted or taken): one on an inference
 * worker kept warm for it (so that the page never freezes; on the page's thread while that worker is not
 * ready, or if it breaks), a batch on every core (pool.js: the page and same-origin inference workers, each
 * taking the next photo), shown in the order chosen. A file that cannot be read shows its own message and the batch goes
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
import {announce} from './dom.js';
import {clinicalAnswers, showClinical} from './fields.js';
import {bitmapToPixels} from './imaging.js';
import {onFilesChosen, setBusy} from './inputs.js';
import {onModelChosen, setModelChoice, showModelInUse} from './model-picker.js';
import {MIN_BATCH, WorkerFailure, runQueue, startPool, threadCount} from './pool.js';
import {timeLeftMs} from './progress.js';
import {clearResults, focusResult, onExportCsv, setUpBatch, showResult} from './results.js';
import {ImageError, SkinLensError, load} from './skinlens.js';
import {hideDownload, setStatus, showBatchProgress, showDataset, showDownload, showModel, showOffline, showReadyTime,
  showSelfTest, showThreads as showThreadsLine} from './status.js';
import {offerKeep, startSpots} from './spots/spots-ui.js';

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
 * `thread`, or on `fallback` when given and `thread` breaks; returns its PageResult and the decoded bitmap
 * (null when it could not be decoded), for showing. Rejects only with pool.js's WorkerFailure, when the
 * thread broke before answering and there is no fallback.
 */
async function classifyFile(file, answers, thread, fallback = null) {
  let bitmap = null;
  let result;
  const start = performance.now();
  try {
    bitmap = await model.decode(file);
    const pixels = bitmapToPixels(bitmap, model.metadata.preprocess.alpha_background);
    const decodeMs = performance.now() - start;
    let classified;
    try {
      // A worker is sent a copy when there is a fallback: the pixels it is sent are transferred, gone here.
      classified = await thread.classify(fallback ? {...pixels, data: pixels.data.slice()} : pixels, answers);
    } catch (error) {
      if (!(error instanceof WorkerFailure) || !fallback) throw error;
      thread = fallback;
      classified = await thread.classify(pixels, answers);
    }
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
    showThreadsLine('batches on 1 thread');
  } else if (pool?.model !== model) {
    showThreadsLine(`batches on up to ${allowed} threads (from the first of ${MIN_BATCH} photos or more)`);
  } else {
    const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
    const ready = pool.workers.filter((worker) => worker.loaded && !worker.broken).length;
    const failed = pool.workers.filter((worker) => worker.broken).length;
    const threads = ready ? `${plural(ready + 1, 'thread')} (the page and ${plural(ready, 'worker')})` : '1 thread';
    const stopped = failed ? ` (${plural(failed, 'worker')} could not start or stopped: see the browser console)` : '';
    const more = pool.workers.length < allowed - 1 ?
      `, up to ${allowed} from the first of ${MIN_BATCH} photos or more` : '';
    showThreadsLine(`batches on ${threads}${stopped}${more}`);
  }
}

/**
 * The threads for a batch of `count` photos: for one photo, the warm worker (warmWorker) once it is ready,
 * else the page's thread; for more, the page's and the workers of pool.js (the rest started for a batch of
 * at least MIN_BATCH photos, then kept for this model). The page's alone when one thread is asked for or
 * the backend is WebGL, whose one GPU more threads would only share.
 */
function batchThreads(count) {
  const workers = threadsAllowed() - 1;
  if (workers < 1) return [PAGE_THREAD];
  if (count === 1) {
    const warm = pool?.model === model && pool.workers.find((worker) => worker.loaded && !worker.broken);
    return [warm || PAGE_THREAD];
  }
  if (pool?.model !== model) {
    if (count < MIN_BATCH) return [PAGE_THREAD];
    pool?.dispose();
    pool = startPool(model, 0);
  }
  if (count >= MIN_BATCH) watchWorkers(pool.grow(workers));
  return [PAGE_THREAD, ...pool.workers.filter((worker) => !worker.broken)];
}

/** Updates the threads line as each of `workers` gets ready or fails to. */
function watchWorkers(workers) {
  for (const worker of workers) worker.ready.then(showThreads);
}

/**
 * Starts one inference worker for the model in use, once its self-test has passed, so that a single photo
 * is classified off the page's thread: on the page's, the 8-view model holds it for about 0.3 s here (and
 * seconds on a phone), during which the page cannot scroll or answer a tap. Not where batchThreads uses
 * the page's thread alone, nor on the pure-JavaScript cpu backend (13 s a photo), whose worker would keep
 * every core busy for minutes running the self-test.
 */
function warmWorker() {
  if (pool?.model === model || threadsAllowed() < 2 || model.backend !== 'wasm') return;
  pool?.dispose();
  pool = startPool(model, 1);
  watchWorkers(pool.workers);
  showThreads();
}

/** Why a batch is refused after a failed self-test: this browser's fault, or a damaged reference image's. */
function selfTestRefusal(selfTest) {
  return selfTest.goldenDamaged ?
    `Not classifying: ${selfTest.error}, so this browser could not be checked. The fault is in the model's ` +
      'files, not in this browser: install them again from their release.' :
    'Not classifying: this browser failed the self-test on the reference images, so its answers cannot be ' +
      'trusted. Try another browser or an up-to-date one.';
}

function readyMessage() {
  return 'Ready: choose, drop or paste photos of a skin spot.';
}

/** Classifies a batch of files, one after another, replacing the previous results. */
async function classifyFiles(files) {
  // The same answers for the whole batch, read once; they live in this call only.
  const {answers, error} = clinicalAnswers(model.metadata.clinical);
  if (error) {
    setStatus('ready', `Not classified: ${error}`);
    return;
  }
  setBusy(true);
  setModelChoice(false);
  batching = true;
  try {
    await classifyBatch(files, answers);
  } finally {
    batching = false;
  }
}

/** classifyFiles once the answers are read and the inputs disabled. */
async function classifyBatch(files, answers) {
  if (!selfTestPassed) setStatus('busy', 'Checking this browser on the reference images first…');
  const selfTest = await selfTestDone;
  if (!selfTest.passed) {
    setStatus('error', selfTestRefusal(selfTest));
    return; // the inputs stay disabled: nothing this browser computes can be trusted
  }
  clearResults();
  lastResults = [];
  const started = performance.now();
  const progress = (done) => files.length > 1 &&
    showBatchProgress(done, files.length, timeLeftMs(performance.now() - started, done, files.length));
  const threads = batchThreads(files.length);
  // Cards are shown in the order of the files, each as soon as those before it are shown too.
  const finished = new Array(files.length);
  let done = 0;
  const showFinished = () => {
    while (finished[lastResults.length]) {
      const index = lastResults.length;
      const {result, bitmap} = finished[index];
      showResult(result, model.metadata, bitmap, {index, total: files.length});
      offerKeep(document.getElementById(`card-${index + 1}`), result, files[index]); // spots: opt-in keep button
      bitmap?.close();
      lastResults.push(result);
      emit('result', result);
    }
  };
  const status = () => setStatus('busy', files.length === 1 ? `Classifying ${files[0].name}` :
    `Classifying ${files.length} photos: ${done} done`);
  status();
  progress(0);
  // A worker alone (one photo) never fails the batch: the page's thread takes the photo if it breaks.
  const fallback = threads[0] === PAGE_THREAD ? null : PAGE_THREAD;
  await runQueue(files.keys(), threads, async (index, thread) => {
    finished[index] = await classifyFile(files[index], answers, thread, thread === threads[0] ? fallback : null);
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
  setStatus('ready', `${summary} ${readyMessage()}`);
  announce(summary);
  setBusy(false);
  setModelChoice(true);
  if (files.length === 1) focusResult();
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
  // sw.js says why an install failed (a file missing or not the one precache.json lists) before it gives up.
  const whyNot = new Promise((resolve) => navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data?.type === 'skinlens:offline-copy-failed') resolve(event.data.reason);
  }));
  navigator.serviceWorker.startMessages();
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
    // The worker's message and its end are two events in no set order: its reason is waited for a moment.
    const reason = await Promise.race([whyNot, new Promise((resolve) => setTimeout(resolve, 1000))]);
    console.warn('service worker not installed:', reason ?? error);
    return reason ? `offline copy not installed: ${reason}` : 'offline use: unavailable here';
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
  showModel(model.metadata, model);
  showDataset(model.metadata);
  showClinical(model.metadata.clinical ?? null);
  showModelInUse(model.metadata, {own});
  clearResults();
  showThreads();
  lastResults = [];
  selfTestPassed = false;
  selfTestDone = model.selfTest();
  return selfTestDone;
}

/** Shows a finished self-test and readies the page for photos, or refuses them when it failed. */
function settle(selfTest) {
  selfTestPassed = selfTest.passed;
  if (selfTest.passed) warmWorker();
  showSelfTest(selfTest);
  setBusy(!selfTest.passed);
  setStatus(selfTest.passed ? 'ready' : 'error', selfTest.passed ? readyMessage() : selfTestRefusal(selfTest));
  setModelChoice(true); // also after a failed self-test: another model, or the shipped one, may pass
}

/**
 * Loads a model from files the user chose and puts it in use; a model that cannot be loaded (missing or
 * altered file, invalid metadata.json) is refused in words and the model in use stays, as it was.
 */
async function chooseModel(files) {
  setModelChoice(false);
  setBusy(true);
  setStatus('busy', `Loading your model from ${files.length} chosen file${files.length === 1 ? '' : 's'}…`);
  let next;
  try {
    next = await load(files, {backends, onProgress: showDownload});
  } catch (error) {
    if (!(error instanceof SkinLensError)) console.warn(error); // e.g. a model.json tfjs cannot read
    hideDownload();
    showModelInUse(model.metadata, {own: model !== shipped, error: error.message});
    settle(await selfTestDone);
    emit('model', {error: {message: error.message, code: error.code ?? null}});
    return;
  }
  hideDownload();
  const selfTest = await putInUse(next, {own: true});
  settle(selfTest);
  emit('model', {version: model.version, own: true, selfTest});
}

/** Goes back to the shipped model (kept in memory, so offline too). */
async function useShipped() {
  setModelChoice(false);
  setBusy(true);
  const selfTest = await putInUse(shipped, {own: false});
  settle(selfTest);
  emit('model', {version: model.version, own: false, selfTest});
}

async function start() {
  const requested = new URLSearchParams(window.location.search).get('backend');
  backends = BACKENDS.includes(requested) ? [requested] : BACKENDS;
  shipped = await load('model/', {backends, onProgress: showDownload});
  hideDownload();
  onExportCsv(csv);
  setUpBatch();
  // Ready once the model is loaded, checked and warmed up: the self-test runs right after, off the path to
  // ready, and a batch chosen before it ends waits for it (classifyFiles) and is refused if it fails.
  const readyMs = performance.now(); // from the start of navigation
  const selfTestRun = putInUse(shipped, {own: false});
  startSpots(document.getElementById('spots'), {model: () => model}); // spots: the kept history, this device only
  showReadyTime(readyMs);
  setStatus('ready', readyMessage());
  onFilesChosen(classifyFiles);
  onModelChosen(chooseModel, useShipped);
  registerServiceWorker().then(showOffline);
  const selfTest = await selfTestRun;
  if (selfTest.passed) {
    // Not settle(): a batch chosen during the self-test may be running, and keeps the page busy until done.
    showSelfTest(selfTest);
    selfTestPassed = true;
    warmWorker();
    if (!batching) setModelChoice(true);
  } else {
    settle(selfTest);
  }
  emit('ready', {version: model.version, backend: model.backendDetail, selfTest, readyMs});
}

// The clinical fields' form (index.html: there for autofill's sake) is never sent: Enter in the age field
// would submit it, and the CSP refuse that with an error.
document.getElementById('clinical-form')?.addEventListener('submit', (event) => event.preventDefault());

// Results live in this page only: closing or reloading it with some on screen asks first.
window.addEventListener('beforeunload', (event) => {
  if (lastResults.length) event.preventDefault();
});

// A failed load is a message on the page rather than an unhandled rejection.
start().catch((error) => {
  setStatus('error', `SkinLens could not start: ${error.message}`);
  emit('error', {message: error.message, code: error.code ?? null});
});
