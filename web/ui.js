/**
 * The only SkinLens module that touches the page's DOM: status and model lines, the photo inputs
 * (buttons, drag-and-drop, paste, camera), "Try your own model", the batch table and CSV download, and one
 * card per photo.
 * Text from files and metadata goes in through textContent, never as HTML.
 */
import {heatmapImageData} from './heatmap.js';
import {clinicalVector, countInWords, datasetOf, riskBin, screeningFigures} from './metadata.js';

const THUMBNAIL_SIZE = 320; // longest side, in canvas pixels (shown at most at half that on wide screens)

/** Results are announced one by one up to this batch size; beyond it only the summary is. */
const ANNOUNCE_EACH_UP_TO = 10;

const BANDS = {
  higher: {label: 'Higher concern', advice: 'have a doctor look at it soon.', symbol: '▲'},
  lower: {label: 'Lower concern', advice: 'keep an eye on it; see a doctor if it changes.', symbol: '●'},
};

const byId = (id) => document.getElementById(id);

/**
 * The batch on show, in the order classified: each result with its table row and card. The table can be
 * sorted (batchSort) and filtered to the photos that need a look; the cards keep their order.
 *
 * @type {{result: object, row: HTMLTableRowElement, card: HTMLElement, order: number}[]}
 */
let batchEntries = [];
/** @type {{key: 'concern'|'name', descending: boolean}|null} null: the order the photos were classified in. */
let batchSort = null;
/** Undoes what preparePrint changed, once the print dialog has closed; null when nothing is prepared. */
let restoreAfterPrint = null;

const NAME_ORDER = new Intl.Collator(undefined, {numeric: true, sensitivity: 'base'});

/** Creates an element with optional class and text. */
function element(tag, className = '', text = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Formats a probability as a percentage for display. */
function percent(probability) {
  return probability < 0.001 ? '<0.1%' : `${(probability * 100).toFixed(1)}%`;
}

/** "95 of every 100", for sensitivity and specificity in plain words. */
function ofEvery100(fraction) {
  return `${Math.round(fraction * 100)} of every 100`;
}

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

/** Says something to screen readers through the polite live region. */
export function announce(message) {
  byId('announcer').textContent = message;
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
 * Wires "Try your own model": a chosen folder, or files chosen one by one (browsers without folder
 * choosing), go to `onChosen`; "Back to the shipped model" calls `onShipped`. The files are only handed on:
 * skinlens.js load reads them in the page.
 *
 * @param {function(File[]): void} onChosen
 * @param {function(): void} onShipped
 */
export function onModelChosen(onChosen, onShipped) {
  for (const [buttonId, inputId] of [['choose-model-folder', 'model-folder'], ['choose-model-files', 'model-files']]) {
    const input = byId(inputId);
    byId(buttonId).addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const files = Array.from(input.files);
      input.value = ''; // so that choosing the same folder again, e.g. after mending it, fires `change`
      if (files.length) onChosen(files);
    });
  }
  byId('shipped-model').addEventListener('click', onShipped);
}

/**
 * Enables or disables choosing another model (off while a model loads or self-tests, or a batch runs).
 *
 * @param {boolean} enabled
 */
export function setModelChoice(enabled) {
  for (const id of ['choose-model-folder', 'choose-model-files', 'model-folder', 'model-files', 'shipped-model']) {
    byId(id).disabled = !enabled;
  }
}

/**
 * Says which model classifies the photos (its version and training data) and, when a chosen model was
 * refused, why: the model in use stays.
 *
 * @param {object} metadata the metadata.json of the model in use.
 * @param {{own: boolean, error?: string|null}} state own: a model chosen from disk; error: why the last
 *   chosen one was not loaded.
 */
export function showModelInUse(metadata, {own, error = null}) {
  const data = datasetOf(metadata).name;
  const which = `${own ? 'your model' : 'the shipped model'} ${metadata.model.version}` +
    (data ? `, trained on ${data}` : '');
  const status = byId('own-model-status');
  status.textContent = error ? `Your model was not loaded: ${error.replace(/\.$/, '')}. Still in use: ${which}.` :
    `In use: ${which}.`;
  status.dataset.state = error ? 'error' : 'ok';
  byId('shipped-model').hidden = !own;
}

/**
 * Names the model's training data and its number of classes where the page speaks of them (the limits
 * and the footer's credit), from metadata.json: a model trained on other data says so.
 *
 * @param {object} metadata model/metadata.json.
 */
export function showDataset(metadata) {
  const data = datasetOf(metadata);
  byId('data-name').textContent = data.name ?? 'its training images';
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
 * @param {{passed: boolean, maxDifference: number|null, cases: number, tolerance: number, error: string|null}} test
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

/**
 * Enables every way of adding photos and calls `handler` with the files each time some are added:
 * the two buttons (file chooser, camera), dropping files anywhere on the page, and pasting.
 *
 * @param {function(File[]): Promise<void>} handler called with at least one file; never concurrently
 *   with itself while setBusy(true) is in effect (drops and pastes are ignored then).
 */
export function onFilesChosen(handler) {
  let busy = false;
  const run = async (files) => {
    if (busy || files.length === 0) return;
    busy = true;
    try {
      await handler(files);
    } finally {
      busy = false;
    }
  };
  for (const [buttonId, inputId] of [['choose', 'files'], ['take-photo', 'camera']]) {
    const input = byId(inputId);
    byId(buttonId).addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const files = Array.from(input.files);
      input.value = ''; // so that choosing the same file again fires `change`
      run(files);
    });
  }

  // Without preventDefault on the whole document, a photo dropped beside the zone would be opened by
  // the browser in place of the app.
  const zone = byId('drop-zone');
  const hasFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = busy ? 'none' : 'copy';
    zone.classList.add('dragging');
  });
  document.addEventListener('dragleave', (event) => {
    if (event.relatedTarget === null) zone.classList.remove('dragging');
  });
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    zone.classList.remove('dragging');
    run(Array.from(event.dataTransfer.files));
  });
  document.addEventListener('paste', (event) => {
    const files = Array.from(event.clipboardData?.files ?? []);
    if (files.length === 0) return;
    event.preventDefault();
    // A pasted image is called image.png by every browser: number them so the table tells them apart.
    run(files.map((file, i) => new File([file], `pasted ${new Date().toLocaleTimeString()} ${i + 1} ${file.name}`,
      {type: file.type})));
  });
  setBusy(false);
}

/**
 * Shows the optional clinical fields the model takes (metadata.clinical), each with a "not given" choice.
 * Nothing is filled in for the person and nothing is remembered beyond this page.
 *
 * @param {object|null} spec metadata.clinical; null hides the fields.
 */
export function showClinical(spec) {
  const fieldset = byId('clinical');
  const container = byId('clinical-fields');
  container.replaceChildren();
  fieldset.hidden = !spec;
  if (!spec) return;
  for (const field of spec.fields) {
    const id = `clinical-${field.name}`;
    const wrapper = element('div', 'clinical-field');
    const label = element('label', '', field.unit ? `${field.label} (${field.unit})` : field.label);
    label.htmlFor = id;
    let control;
    if (field.kind === 'number') {
      control = element('input');
      Object.assign(control, {type: 'number', min: field.min, max: field.max, step: 1, inputMode: 'numeric',
        placeholder: 'not given'});
    } else {
      control = element('select');
      control.append(new Option('not given', ''));
      for (const value of field.values) control.append(new Option(value.label, value.id));
    }
    Object.assign(control, {id, name: field.name, autocomplete: 'off'});
    wrapper.append(label, control);
    container.append(wrapper);
  }
}

/**
 * The clinical answers as filled in now, e.g. {age: 45, site: 'back'} (blank fields left out).
 *
 * @param {object|null} spec metadata.clinical.
 * @returns {{answers: object, error: string|null}} error says, in words, which field to correct.
 */
export function clinicalAnswers(spec) {
  const message = byId('clinical-error');
  const answers = {};
  let error = null;
  for (const field of spec?.fields ?? []) {
    const control = byId(`clinical-${field.name}`);
    const raw = control.value.trim();
    if (control.validity?.badInput) error = `${field.label}: please enter a number of ${field.unit ?? 'units'}.`;
    if (raw !== '') answers[field.name] = field.kind === 'number' ? Number(raw) : raw;
  }
  if (!error && spec) {
    try {
      clinicalVector(answers, {clinical: spec}); // the same check the classifier makes
    } catch (rangeError) {
      error = rangeError.message;
    }
  }
  message.textContent = error ?? '';
  message.hidden = !error;
  return {answers, error};
}

/** The clinical fields a result used, in words, for its card. */
function clinicalLine(result, metadata) {
  if (!metadata.clinical) return null;
  const fields = metadata.clinical.fields;
  if (!result.clinicalUsed?.length) {
    return `Age, sex and body site were not given: this answer is from the photo alone.`;
  }
  const words = fields.filter((field) => result.clinicalUsed.includes(field.name)).map((field) => {
    const value = result.clinical[field.name];
    const shown = field.kind === 'number' ? `${value} ${field.unit ?? ''}`.trim() :
      (field.values.find((v) => v.id === value)?.label ?? value).toLowerCase();
    return `${field.label.toLowerCase()} ${shown}`;
  });
  return `This answer used the photo and ${words.join(', ')}.`;
}

/**
 * Disables the photo inputs while a batch is being classified.
 *
 * @param {boolean} busy
 */
export function setBusy(busy) {
  for (const id of ['choose', 'take-photo', 'files', 'camera']) byId(id).disabled = busy;
  for (const control of byId('clinical-fields').querySelectorAll('input, select')) control.disabled = busy;
  byId('export-csv').disabled = busy;
  byId('print-batch').disabled = busy;
}

/** Removes the previous batch's table rows and result cards (the table's sort and filter stay as set). */
export function clearResults() {
  byId('batch-progress-box').hidden = true;
  byId('results').replaceChildren();
  byId('batch-table').tBodies[0].replaceChildren();
  byId('batch').hidden = true;
  batchEntries = [];
  updateBatch();
}

/** Whether a result needs a person to look: higher concern, any warning about the photo, or not read at all. */
function needsLook(result) {
  return Boolean(result.error) || result.band === 'higher' || (result.warnings?.length ?? 0) > 0;
}

/** "12 photos: 3 higher concern, 8 lower concern, 1 could not be read" (kinds with none left out). */
function batchCounts(results) {
  const count = (test) => results.filter(test).length;
  const parts = [
    [count((r) => !r.error && r.band === 'higher'), 'higher concern'],
    [count((r) => !r.error && r.band === 'lower'), 'lower concern'],
    [count((r) => !r.error && !r.band), 'without a concern level'],
    [count((r) => r.error), 'could not be read'],
  ].filter(([n]) => n > 0).map(([n, words]) => `${n} ${words}`);
  const total = `${results.length} photo${results.length === 1 ? '' : 's'}`;
  return parts.length ? `${total}: ${parts.join(', ')}` : total;
}

/** Orders two batch entries as the table's sort asks: concern (failures always last) or photo name. */
function compareEntries(a, b) {
  const direction = batchSort.descending ? -1 : 1;
  if (batchSort.key === 'name') return direction * NAME_ORDER.compare(a.result.file, b.result.file) || a.order - b.order;
  const failed = Number(Boolean(a.result.error)) - Number(Boolean(b.result.error));
  if (failed) return failed;
  // Descending ("higher first"): higher concern, then no concern level, then by malignant risk, highest first.
  const rank = (r) => (r.band === 'higher' ? 2 : r.band === 'lower' ? 1 : 0);
  return direction * (rank(a.result) - rank(b.result) || (a.result.risk ?? 0) - (b.result.risk ?? 0)) ||
    a.order - b.order;
}

/** Brings the table up to date: counts, row order and aria-sort, and the "need a look" filter. */
function updateBatch() {
  const results = batchEntries.map((entry) => entry.result);
  byId('batch-counts').textContent = results.length ? batchCounts(results) : '';
  const rows = batchSort ? [...batchEntries].sort(compareEntries) : batchEntries;
  byId('batch-table').tBodies[0].append(...rows.map((entry) => entry.row));
  for (const th of byId('batch-table').tHead.querySelectorAll('th[data-sort]')) {
    if (batchSort?.key !== th.dataset.sort) th.removeAttribute('aria-sort');
    else th.setAttribute('aria-sort', batchSort.descending ? 'descending' : 'ascending');
  }
  byId('print-batch').hidden = batchEntries.length < 2; // one photo: its card's button prints the same
  const onlyNeedingLook = byId('needs-look').checked;
  for (const {result, row, card} of batchEntries) row.hidden = card.hidden = onlyNeedingLook && !needsLook(result);
}

/**
 * Sorts the results table by the header's column: a first click by concern puts the higher concern first,
 * by name A to Z; a second click on the same column reverses it.
 */
function sortBatch(key) {
  batchSort = {key, descending: batchSort?.key === key ? !batchSort.descending : key === 'concern'};
  updateBatch();
}

/**
 * Readies the page for printing one card (`card`) or the whole batch (null): the card(s) to print opened,
 * and for one card, classes the print stylesheet (style.css, @media print) uses to print that card alone.
 */
function preparePrint(card) {
  restoreAfterPrint?.();
  const folds = (card ? [card] : batchEntries.map((entry) => entry.card))
    .map((c) => c.querySelector('details.result-fold')).filter((fold) => fold && !fold.open);
  for (const fold of folds) fold.open = true;
  document.body.classList.toggle('printing-one', Boolean(card));
  card?.classList.add('print-this');
  restoreAfterPrint = () => {
    for (const fold of folds) fold.open = false;
    document.body.classList.remove('printing-one');
    card?.classList.remove('print-this');
    restoreAfterPrint = null;
  };
}

/** Prints (or saves as PDF, the browser's print dialog offers it) one card, or the batch when `card` is null. */
function printResults(card) {
  preparePrint(card);
  window.print();
}

/**
 * Wires the results table's sort buttons, its "need a look" filter and the batch's print button, and
 * readies the page when the browser's own Print command is used.
 */
export function setUpBatch() {
  for (const th of byId('batch-table').tHead.querySelectorAll('th[data-sort]')) {
    th.querySelector('button').addEventListener('click', () => sortBatch(th.dataset.sort));
  }
  byId('needs-look').addEventListener('change', updateBatch);
  byId('print-batch').addEventListener('click', () => printResults(null));
  window.addEventListener('beforeprint', () => {
    if (!restoreAfterPrint) preparePrint(null);
  });
  window.addEventListener('afterprint', () => restoreAfterPrint?.());
}

/**
 * Calls `handler` when the user asks for the CSV.
 *
 * @param {function(): {text: string, fileName: string}} handler
 */
export function onExportCsv(handler) {
  byId('export-csv').addEventListener('click', () => {
    const {text, fileName} = handler();
    downloadText(text, fileName, 'text/csv');
  });
}

/** Saves text as a file through a short-lived blob: URL; nothing is stored by the page. */
function downloadText(text, fileName, type) {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const link = element('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A figure with the photo (as the model saw it: EXIF orientation applied, aspect kept) and its overlay. */
function photoFigure(bitmap, result, classes) {
  const scale = Math.min(1, THUMBNAIL_SIZE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const figure = element('figure', 'photo');
  const frame = element('div', 'photo-frame');
  const canvas = element('canvas', 'thumbnail');
  Object.assign(canvas, {width, height});
  canvas.getContext('2d').drawImage(bitmap, 0, 0, width, height);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Photo ${result.file}`);
  frame.append(canvas);
  figure.append(frame);
  const {cam} = result;
  if (!cam || result.error) return figure;

  const topIndex = classes.findIndex((cls) => cls.id === result.top.id);
  const overlay = element('canvas', 'heatmap');
  Object.assign(overlay, {width, height});
  overlay.getContext('2d').putImageData(heatmapImageData(cam, topIndex, width, height), 0, 0);
  overlay.setAttribute('aria-hidden', 'true');
  overlay.hidden = true;
  frame.append(overlay);

  const toggle = element('input', 'heatmap-toggle');
  toggle.type = 'checkbox';
  const label = element('label', 'toggle');
  label.append(toggle, ` Show where the model looked for “${result.top.name}”`);
  const legend = element('figcaption', 'heatmap-legend');
  legend.append(element('span', '', 'weak'), element('span', 'scale'), element('span', '', 'strong'));
  legend.hidden = true;
  const explanation = element('p', 'heatmap-note',
    `Activation map of the best-matching type (${result.top.name}): bright yellow areas raised its score most, ` +
    'dark purple least. It shows where the model looked, not where the lesion is.');
  explanation.hidden = true;
  toggle.addEventListener('change', () => {
    overlay.hidden = legend.hidden = explanation.hidden = !toggle.checked;
    canvas.setAttribute('aria-label', `Photo ${result.file}${toggle.checked ? ', with activation map' : ''}`);
  });
  figure.append(label, legend, explanation);
  return figure;
}

/**
 * What a score means, in words people read correctly: how many of the validation images that scored in
 * the same range were a skin cancer (metadata.js riskBin), never the score as a percentage.
 */
function riskInWords(result, metadata) {
  const bin = riskBin(result.risk, metadata, result.clinicalUsed);
  if (!bin || bin.rate === null) return null;
  const per100 = Math.round(bin.rate * 100);
  const share = per100 === 0 ? 'fewer than 1 in 100' : per100 === 100 ? 'nearly all' : `about ${per100} of every 100`;
  return `In our tests on dermoscopic images, ${share} photos that scored like this one were a skin cancer.`;
}

/** The answer: the concern level in words and symbol, what its score means, and the check's validated figures. */
function triageBox(result, metadata) {
  const band = BANDS[result.band];
  const box = element('div', `triage band-${result.band}`);
  const heading = element('p', 'band-label');
  heading.append(element('span', 'band-symbol', band.symbol), ' ', element('strong', '', `${band.label}:`),
    ` ${band.advice}`);
  heading.firstChild.setAttribute('aria-hidden', 'true');
  box.append(heading);
  const words = riskInWords(result, metadata);
  if (words) box.append(element('p', 'band-odds', words));
  const figures = screeningFigures(metadata, {photoOnly: result.clinicalUsed.length === 0});
  if (figures) {
    const where = figures.split === 'test' ? 'On images it had not seen' : 'On its validation images';
    box.append(element('p', 'band-detail',
      `${where}, this check caught ${ofEvery100(figures.sensitivity)} cancers (sensitivity) and cleared ` +
      `${ofEvery100(figures.specificity)} harmless lesions (specificity).`));
  }
  const cancers = metadata.classes.filter((cls) => metadata.screening.malignant_classes.includes(cls.id));
  const how = element('details', 'band-how');
  how.append(element('summary', '', 'How this is worked out'), element('p', 'band-detail',
    `The model's scores for ${cancers.map((cls) => cls.name).join(', ')} add up to ${result.risk.toFixed(3)} ` +
    `on a scale of 0 to 1; from ${result.threshold.toFixed(3)} SkinLens says “higher concern”. That threshold ` +
    'was set to miss as few cancers as it can while clearing as many harmless spots as it can.'));
  box.append(how, element('p', 'band-detail', 'A screening aid, not a diagnosis.'));
  return box;
}

/** The out-of-scope warning, listing each reason. */
function scopeWarning(warnings) {
  const box = element('div', 'scope-warning');
  let reasons = warnings;
  if (warnings.some((warning) => warning.code === 'not-a-lesion')) {
    box.append(element('p', 'scope-lead', 'This does not look like a close-up of a spot on the skin, so SkinLens ' +
      'gives no answer for it. It only judges dermoscopic close-ups of a skin lesion: if this is one, take the ' +
      'photo again, close up, sharp and well lit.'));
    reasons = warnings.filter((warning) => warning.code !== 'not-a-lesion');
    if (!reasons.length) return box;
    box.append(element('p', '', 'Also:'));
  } else {
    box.append(element('p', '', 'Check the photo: this result may not be reliable because'));
  }
  const list = element('ul');
  for (const warning of reasons) list.append(element('li', '', warning.message));
  box.append(list);
  return box;
}

/**
 * The type breakdown: every class in metadata order with its bar and description, the top one marked in
 * words. On a higher-concern card the harmless types' reassuring descriptions are left out and a line says
 * that the concern level, not the type, is what to act on: the breakdown must not read against the answer.
 */
function typeBreakdown(classes, probabilities, topIndex, band) {
  const section = element('section', 'types');
  section.append(element('h4', 'types-title', 'Which type of spot it looks most like'));
  if (band === 'higher') {
    section.append(element('p', 'types-note',
      'Whatever type comes first here, act on the concern level above: a doctor should look at this spot.'));
  }
  section.append(probabilityTable(classes, probabilities, topIndex, band === 'higher'));
  return section;
}

function probabilityTable(classes, probabilities, topIndex, withoutReassurance) {
  const table = element('table', 'classes');
  table.append(element('caption', 'visually-hidden', 'Probability of each type of skin lesion'));
  classes.forEach((cls, index) => {
    const row = element('tr', index === topIndex ? 'is-top' : '');
    const name = element('th', 'class-name');
    name.scope = 'row';
    if (index === topIndex) name.append(element('span', 'top-mark', 'Best match: '));
    name.append(element('span', 'class-label', cls.name));
    if (cls.malignant) name.append(' ', element('span', 'tag', 'cancer type'));
    if (cls.description && !(withoutReassurance && !cls.malignant)) {
      name.append(element('span', 'class-description', cls.description));
    }
    const bar = element('meter', 'bar');
    Object.assign(bar, {min: 0, max: 1, value: probabilities[index]});
    bar.setAttribute('aria-label', `${cls.name}: ${percent(probabilities[index])}`);
    const barCell = element('td', 'bar-cell');
    barCell.append(bar);
    row.append(name, barCell, element('td', 'percent', percent(probabilities[index])));
    table.append(row);
  });
  return table;
}

/** One row of the batch table; the photo's name links to its card. */
function batchRow(result, cardId) {
  const row = element('tr', result.error ? 'failed' : '');
  const cells = result.error ?
    [result.file, 'Could not classify', '—', result.error, '—'] :
    [result.file, `${result.top.name} (${percent(result.top.probability)})`,
      result.band ? BANDS[result.band].label : 'no threshold',
      result.warnings.map((warning) => warning.message).join('; ') || '—', `${Math.round(result.timing.modelMs)} ms`];
  const headers = Array.from(byId('batch-table').tHead.rows[0].cells, (th) => th.textContent.trim());
  row.setAttribute('role', 'row'); // kept explicitly: phones show the table as stacked blocks (style.css)
  cells.forEach((text, i) => {
    const cell = element(i === 0 ? 'th' : 'td', '', text);
    if (i === 0) cell.scope = 'row';
    cell.setAttribute('role', i === 0 ? 'rowheader' : 'cell');
    cell.dataset.label = headers[i];
    row.append(cell);
  });
  if (result.band) row.cells[2].classList.add(`band-text-${result.band}`);
  const link = element('a', 'card-link', result.file);
  link.href = `#${cardId}`;
  // A folded card opens before the browser scrolls to it.
  link.addEventListener('click', () => {
    const fold = byId(cardId)?.querySelector('details.result-fold');
    if (fold) fold.open = true;
  });
  row.cells[0].replaceChildren(link);
  return row;
}

/** The line that unfolds a batch card: the photo's name and its answer (or why it could not be read). */
/** Whether the model's not-a-lesion check flagged the picture (its card then gives no answer in view). */
function isNotALesion(result) {
  return Boolean(result.warnings?.some((warning) => warning.code === 'not-a-lesion'));
}

function cardSummary(result) {
  const line = element('summary', 'result-summary');
  line.append(element('span', 'summary-name', result.file), ' ');
  if (result.error) {
    line.append(element('span', 'summary-error', `Could not classify: ${result.error}`));
    return line;
  }
  if (isNotALesion(result)) {
    line.append(element('span', 'summary-warning', 'not a close-up of a skin lesion: no answer'));
    return line;
  }
  const band = BANDS[result.band];
  const answer = element('span', band ? `band-text-${result.band}` : '', band ? band.label : 'no concern level');
  if (band) {
    const symbol = element('span', 'band-symbol', `${band.symbol} `);
    symbol.setAttribute('aria-hidden', 'true');
    answer.prepend(symbol);
  }
  line.append(answer, ` · best match ${result.top.name}`);
  if (result.warnings.length) line.append(' · ', element('span', 'summary-warning', 'check the photo'));
  return line;
}

/**
 * When and by what the card's answer was made, for a printed or saved copy: the time it was classified
 * (in the reader's own format) and the model's version (metadata.json).
 */
function provenance(result, metadata) {
  const line = element('p', 'provenance');
  const time = element('time', 'classified-at',
    new Date(result.classifiedAt).toLocaleString(undefined, {dateStyle: 'long', timeStyle: 'short'}));
  time.dateTime = result.classifiedAt;
  line.append(result.error ? 'Tried on ' : 'Classified on ', time, ' by SkinLens model ',
    element('span', 'model-version', metadata.model.version), ', in this browser: the photo was not uploaded.');
  return line;
}

/** Short text for screen readers. */
function summary(result) {
  if (result.error) return `${result.file}: could not classify: ${result.error}.`;
  if (isNotALesion(result)) return `${result.file}: does not look like a close-up of a skin lesion; no answer.`;
  const band = result.band ? ` ${BANDS[result.band].label}.` : '';
  const warn = result.warnings.length ? ' Check the photo: the result may not be reliable.' : '';
  return `${result.file}: best match ${result.top.name}, ${percent(result.top.probability)}.${band}${warn}`;
}

/**
 * Adds a row to the batch table and a card for one file: the photo with its activation-map toggle,
 * the triage band, any out-of-scope warning and every class with its probability and description;
 * or the message saying why the file could not be classified.
 *
 * @param {object} result main.js PageResult: skinlens.js Result with file, clinical and error.
 * @param {object} metadata model/metadata.json.
 * @param {ImageBitmap|null} bitmap the decoded photo, when decoding succeeded.
 * @param {{index: number, total: number}} position in the batch, for screen-reader announcements.
 */
export function showResult(result, metadata, bitmap, {index, total}) {
  const {classes} = metadata;
  const cardId = `card-${index + 1}`;
  const row = batchRow(result, cardId);
  byId('batch-table').tBodies[0].append(row);
  byId('batch').hidden = false;

  const card = element('article', result.error ? 'result failed' : 'result');
  card.id = cardId;
  const body = element('div', 'result-body');
  const title = element('h3', 'file-name', result.file);
  title.tabIndex = -1; // focusable by script: focusResult
  body.append(title);
  if (result.error) {
    body.append(element('p', 'error', `Could not classify: ${result.error}`));
  } else {
    const topIndex = classes.findIndex((cls) => cls.id === result.top.id);
    // A picture that does not look like a lesion leads with that, not with an answer about it.
    // A picture that does not look like a lesion gets no answer in view: the warning, and the model's
    // answer folded away for whoever wants it anyway (the detector is wrong on about 1 lesion in 20).
    const notALesion = isNotALesion(result);
    const answer = notALesion ? element('details', 'answer-anyway') : body;
    if (notALesion) {
      body.append(scopeWarning(result.warnings), answer);
      answer.append(element('summary', '', 'Show the answer anyway (it means nothing unless this is a close-up ' +
        'of a skin lesion)'));
    }
    if (result.band) answer.append(triageBox(result, metadata));
    if (result.warnings.length && !notALesion) body.append(scopeWarning(result.warnings));
    answer.append(typeBreakdown(classes, result.classes.map((cls) => cls.probability), topIndex, result.band));
    const clinical = clinicalLine(result, metadata);
    if (clinical) body.append(element('p', 'clinical-used', clinical));
    body.append(element('p', 'timing', `Classified in ${Math.round(result.timing.modelMs)} ms`));
  }
  body.append(provenance(result, metadata));
  const print = element('button', 'button print-button', 'Print or save as PDF');
  print.type = 'button';
  print.setAttribute('aria-label', `Print or save as PDF: ${result.file}`);
  print.addEventListener('click', () => printResults(card));
  body.append(print);
  const content = element('div', 'result-main');
  if (bitmap) content.append(photoFigure(bitmap, result, classes));
  content.append(body);
  if (total > 1) {
    // In a batch each card starts folded, its answer in the line that unfolds it.
    const fold = element('details', 'result-fold');
    fold.append(cardSummary(result), content);
    card.append(fold);
  } else {
    card.append(content);
  }
  byId('results').append(card);
  batchEntries.push({result, row, card, order: index});
  updateBatch();
  if (total <= ANNOUNCE_EACH_UP_TO) announce(summary(result));
  else if (index === 0) announce(`Classifying ${total} photos; a summary follows when all are done.`);
}

/**
 * Scrolls the first result's answer into view and moves focus to it (its heading), so that a person who
 * checked one photo sees the answer at once, on a phone too, and a screen reader reads it next.
 */
export function focusResult() {
  const title = document.querySelector('#results .result .file-name');
  if (!title) return;
  // Where the banner stays at the top of the screen (sticky, wide screens), the card goes just below it.
  const banner = document.querySelector('.banner');
  const below = banner && getComputedStyle(banner).position === 'sticky' ? banner.getBoundingClientRect().bottom : 0;
  window.scrollBy(0, title.closest('.result').getBoundingClientRect().top - below - 8);
  title.focus({preventScroll: true});
}
