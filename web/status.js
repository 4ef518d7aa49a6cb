/**
 * The page's status: the status line, the model download and batch progress bars, which model and backend
 * are in use and how long they took to be ready, the self-test's outcome, the threads a batch uses, the
 * offline line, and the training data named where the page speaks of it.
 */
import {byId, element} from './dom.js';
import {countInWords, datasetOf, seenAndUnseen} from './metadata.js';

/**
 * Shows the loading state and message; tests wait on the status element's data-state.
 *
 * @param {'loading'|'busy'|'ready'|'error'} state
 * @param {string} message
 */
export function setStatus(state, message) {
  const status = byId('status');
  status.dataset.state = state;
  status.textContent = message;
}

/** "about 12 s" or "about 3 min", for a time left. */
function aboutDuration(ms) {
  const seconds = Math.max(1, Math.round(ms / 1000));
  return seconds < 90 ? `about ${seconds} s` : `about ${Math.round(seconds / 60)} min`;
}

/**
 * Shows the model download as a bar: bytes received of metadata.model.total_bytes.
 *
 * @param {{loaded: number, total: number}} progress skinlens.js load's onProgress.
 */
export function showDownload({loaded, total}) {
  const bar = byId('download-progress');
  bar.max = total;
  bar.value = loaded;
  byId('download-amount').textContent = `${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
  byId('download').hidden = false;
}

/** Hides the download bar once the model is loaded. */
export function hideDownload() {
  byId('download').hidden = true;
}

/**
 * Shows a batch's progress as a bar: which photo of how many is being classified and, once one is done,
 * about how long the rest will take. At the end the bar stays full until the next batch.
 *
 * @param {number} done photos finished.
 * @param {number} total photos in the batch.
 * @param {number|null} msLeft estimated time left (progress.js timeLeftMs); null when not known yet.
 */
export function showBatchProgress(done, total, msLeft) {
  const bar = byId('batch-progress');
  bar.max = total;
  bar.value = done;
  byId('batch-progress-label').textContent = done === total ? `${total} of ${total} photos classified` :
    `Photo ${done + 1} of ${total}` + (msLeft === null ? '' : `, ${aboutDuration(msLeft)} left`);
  byId('batch-progress-box').hidden = false;
}

/**
 * Shows which model and TensorFlow.js backend classify the photos, and how long loading took.
 *
 * @param {object} metadata model/metadata.json.
 * @param {{backend: string, backendDetail: string}} info
 */
export function showModel(metadata, {backend, backendDetail}) {
  byId('model-name').textContent = metadata.model.name;
  byId('model-version').textContent = metadata.model.version;
  byId('model-backend').textContent = backend;
  byId('backend-detail').textContent = backendDetail === backend ? '' : backendDetail.slice(backend.length).trim();
  byId('self-test').textContent = 'self-test running…';
  byId('model-info').hidden = false;
}

/**
 * Names the model's training data and its number of classes where the page speaks of them (the limits
 * and the footer's credit), from metadata.json: a model trained on other data says so.
 *
 * @param {object} metadata model/metadata.json.
 */
export function showDataset(metadata) {
  const data = datasetOf(metadata);
  // Who and what it learnt from, source by source, and each kind of picture's tested figures (metadata.js).
  const seen = seenAndUnseen(metadata);
  byId('data-seen').textContent = `${seen.sources} ${seen.kinds}`;
  byId('kind-figures').textContent = seen.figures.join(' ');
  byId('kind-figures').hidden = seen.figures.length === 0;
  byId('class-count').textContent = countInWords(metadata.classes.length);
  const credit = byId('data-credit');
  if (!data.name && !data.citation) {
    credit.textContent = 'Its training data was not named when it was trained (see the model card).';
    return;
  }
  const link = (href, text) => Object.assign(element('a', '', text), {href, rel: 'noopener noreferrer'});
  credit.replaceChildren(`The model was trained on ${data.name ?? 'data'}`);
  if (data.citation) credit.append(': ', element('cite', '', data.citation.replace(/\.$/, '')));
  if (data.url) credit.append(', ', link(data.url, data.url.replace(/^https:\/\/doi\.org\//, 'doi:')));
  if (data.licence) credit.append(', licensed ', data.licence_url ? link(data.licence_url, data.licence) : data.licence);
  credit.append('.');
}

/**
 * Shows how long the page took from navigation to ready.
 *
 * @param {number} ms
 */
export function showReadyTime(ms) {
  byId('ready-time').textContent = `${(ms / 1000).toFixed(1)} s`;
}

/** Says how many threads classify a batch (main.js threadsNote), e.g. 'batches on 2 threads'. */
export function showThreads(text) {
  byId('threads').textContent = text;
}

/**
 * Shows the self-test's outcome: a note when it passed, a warning that cannot be missed when not.
 *
 * @param {{passed: boolean, maxDifference: number|null, cases: number, tolerance: number, error: string|null,
 *   goldenDamaged?: boolean}} test goldenDamaged: a reference image is not the one metadata.json names, which is
 *   not blamed on the browser.
 */
export function showSelfTest(test) {
  const line = byId('self-test');
  const warning = byId('self-test-warning');
  if (test.passed) {
    const checked = test.cases - test.notChosen;
    line.textContent = test.cases === 0 ? 'no self-test images with this model' :
      checked === 0 ? 'no self-test: its reference images (golden/) were not chosen with it' :
      `self-test passed (${checked} reference image${checked === 1 ? '' : 's'}` +
      (test.notChosen ? `, ${test.notChosen} not chosen` : '') +
      `, largest difference ${test.maxDifference.toExponential(1)})`;
    warning.hidden = true;
    return;
  }
  if (test.goldenDamaged) {
    line.textContent = 'self-test could not run: a reference image is damaged';
    warning.replaceChildren(element('strong', '', 'This browser could not be checked: '),
      `${test.error}. The model's files on this site are damaged, not this browser; they need installing again ` +
        'from their release. Do not rely on the answers here until the self-test passes.');
    warning.hidden = false;
    return;
  }
  line.textContent = 'self-test FAILED';
  const detail = test.error ?
    `the self-test could not run (${test.error})` :
    `on its reference images, this browser's probabilities differ from the reference by up to ` +
      `${test.maxDifference.toFixed(4)} (more than the ${test.tolerance} allowed)`;
  warning.replaceChildren(element('strong', '', 'This browser is not giving reliable results: '),
    `${detail}. Do not rely on its answers here; try another browser or an up-to-date one.`);
  warning.hidden = false;
}

/**
 * Shows whether the app will work offline after this visit.
 *
 * @param {string} message e.g. 'works offline'.
 */
export function showOffline(message) {
  byId('offline').textContent = message;
}
