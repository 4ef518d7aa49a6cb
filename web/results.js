/**
 * The results: the batch table (counts, sort, the "need a look" filter, CSV download, printing) and the
 * cards below it, one per photo (card.js draws them), with what screen readers are told of each.
 */
import {isNotALesion, resultCard} from './card.js';
import {BANDS, announce, byId, element, percent} from './dom.js';

/** Results are announced one by one up to this batch size; beyond it only the summary is. */
const ANNOUNCE_EACH_UP_TO = 10;

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

/** Short text for screen readers. */
function summary(result) {
  if (result.error) return `${result.file}: could not classify: ${result.error}.`;
  if (isNotALesion(result)) return `${result.file}: does not look like a close-up of a skin lesion; no answer.`;
  const band = result.band ? ` ${BANDS[result.band].label}.` : '';
  const warn = result.warnings.length ? ' Check the photo: the result may not be reliable.' : '';
  return `${result.file}: best match ${result.top.name}, ${percent(result.top.probability)}.${band}${warn}`;
}

/**
 * Adds a row to the batch table and a card (card.js resultCard) for one file, and tells screen readers
 * of it.
 *
 * @param {object} result main.js PageResult: skinlens.js Result with file, clinical and error.
 * @param {object} metadata model/metadata.json.
 * @param {ImageBitmap|null} bitmap the decoded photo, when decoding succeeded.
 * @param {{index: number, total: number}} position in the batch, for screen-reader announcements.
 */
export function showResult(result, metadata, bitmap, {index, total}) {
  const cardId = `card-${index + 1}`;
  const row = batchRow(result, cardId);
  byId('batch-table').tBodies[0].append(row);
  byId('batch').hidden = false;

  const card = resultCard(result, metadata, bitmap, {id: cardId, folded: total > 1, onPrint: printResults});
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
