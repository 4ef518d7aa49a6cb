/**
 * "My spots": the page's section for following a spot over time on this device only. It owns the
 * #spots section and the "Keep this photo in my spots" button on each result card; storage is store.js
 * (encrypted IndexedDB), the model is main.js's, reached through the same classify() as every photo.
 *
 *   import {startSpots, offerKeep} from './spots/spots-ui.js';
 *   startSpots(document.getElementById('spots'), {model: () => model});
 *   offerKeep(card, result, file);          // after a card is shown
 *
 * Nothing is stored until the person asks; the passphrase's key lives in store.js's memory only, and the
 * section locks itself when the page is hidden for a while or closed.
 */
import * as store from './store.js';
import {bodyPicker} from './body-map.js';
import {ITEMS, NEW_ITEM, assess, fromAnswers} from './checklist.js';
import {compareView} from './compare.js';
import {answerText, button, dateText, download, el, sizeText} from './dom.js';
import {reminder} from './ics.js';
import {printRecord, recordView} from './record.js';
import {sizeTool} from './size-tool.js';

/** The longest side a kept photo is downscaled to. */
export const MAX_SIDE = 1024;
const JPEG_QUALITY = 0.9;
/** Lock after the page has been hidden this long (another app, another tab). */
const LOCK_AFTER_HIDDEN_MS = 5 * 60_000;

let root = null;
let getModel = () => null;
/** The photo waiting to be kept: {result, file}, until saved or dropped. */
let pending = null;
/** What the section shows while open: the spot opened and a panel in it. */
let view = {spotId: null, panel: null, compare: null};
let message = '';
/** Whether the backup controls are unfolded, kept across renders. */
let backupOpen = false;
let urls = new Map();

/**
 * A skinlens.js Result as kept with a visit: the answer, without the per-pixel maps, and the answers about the
 * person and the spot it used (main.js's result.clinical), so that a re-assessment uses them too.
 */
export function answerOf(result) {
  return {band: result.band, risk: result.risk, threshold: result.threshold, clinical: {...result.clinical},
    top: result.top && {id: result.top.id, name: result.top.name, probability: result.top.probability},
    warnings: (result.warnings ?? []).map(({code, message: text}) => ({code, message: text})),
    pictureKind: result.pictureKind ? {id: result.pictureKind.id, name: result.pictureKind.name} : null,
    classes: result.classes?.map(({id, probability}) => ({id, probability})) ?? null};
}

/**
 * A copy of the photo at most MAX_SIDE pixels on its longer side, as JPEG (EXIF orientation applied).
 *
 * @param {Blob} file
 * @returns {Promise<Blob>}
 */
export async function downscale(file) {
  const bitmap = await createImageBitmap(file, {imageOrientation: 'from-image'});
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = new OffscreenCanvas(Math.round(bitmap.width * scale), Math.round(bitmap.height * scale));
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff'; // under any transparency, as JPEG has none
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.convertToBlob({type: 'image/jpeg', quality: JPEG_QUALITY});
}

function siteField() {
  return getModel()?.metadata.clinical?.fields.find((field) => field.name === 'site') ?? {values: []};
}

function siteLabel(id) {
  return siteField().values.find((value) => value.id === id)?.label ?? (id || 'body site not given');
}

function today() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

/** Runs an action, showing its failure in the section's message line rather than losing it. */
async function act(work) {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof store.WrongKey)) console.warn(error);
    message = error.message;
  }
  await render();
}

async function persistence() {
  if (!navigator.storage?.persisted) return 'This browser does not say whether it keeps the spots when space runs low.';
  const kept = await navigator.storage.persisted();
  return kept ? 'This browser has agreed to keep your spots (persistent storage): it will not clear them to free space.' :
    'This browser has not agreed to persistent storage: it may clear your spots when the device runs low on space. ' +
    'Export a backup now and then.';
}

async function askPersistence() {
  try {
    await navigator.storage?.persist?.();
  } catch {
    // The outcome is shown by persistence(), whatever happened.
  }
}

const WARNING = 'Your spots are kept in this browser only, encrypted with your passphrase. Nobody can recover a ' +
  'forgotten passphrase, not even SkinLens: without it the spots cannot be read. Clearing this browser\'s data for ' +
  'this site deletes them too; export a backup to keep them safe.';

function passphraseInput(label, autocomplete) {
  return el('input', {type: 'password', class: 'passphrase', autocomplete, 'aria-label': label, minlength: '8'});
}

function setUpForm() {
  const first = passphraseInput('New passphrase', 'new-password');
  const again = passphraseInput('The passphrase again', 'new-password');
  const form = el('form', {class: 'spots-form', action: 'search', autocomplete: 'off', on: {submit: (event) => {
    event.preventDefault();
    if (first.value.length < 8) message = 'Choose a passphrase of 8 characters or more (a few words are best).';
    else if (first.value !== again.value) message = 'The two passphrases differ.';
    else return act(async () => {
      await store.create(first.value);
      await askPersistence();
      message = 'Your spots are set up on this device.';
    });
    return render();
  }}},
  el('label', {}, 'Passphrase ', first), el('label', {}, 'Again ', again),
  el('button', {type: 'submit', class: 'button primary', text: 'Start keeping spots here'}));
  return [el('p', {class: 'hint', text: 'Nothing is stored unless you ask. To keep photos of a spot and see whether ' +
    'it changes, choose a passphrase that encrypts them on this device.'}), form];
}

function unlockForm() {
  const input = passphraseInput('Passphrase', 'current-password');
  return [el('form', {class: 'spots-form', action: 'search', autocomplete: 'off', on: {submit: (event) => {
    event.preventDefault();
    act(async () => {
      await store.unlock(input.value);
      await askPersistence();
      message = '';
    });
  }}}, el('label', {}, 'Passphrase ', input),
  el('button', {type: 'submit', class: 'button primary', text: 'Unlock my spots'}))];
}

function deleteEverythingButton() {
  return button('Delete everything', () => {
    if (!window.confirm('Delete every spot, photo and answer kept in this browser? This cannot be undone.')) return;
    act(async () => {
      await store.deleteEverything();
      view = {spotId: null, panel: null, compare: null};
      message = 'Everything was deleted from this browser.';
    });
  }, 'button danger delete-everything');
}

function backupControls() {
  const file = el('input', {type: 'file', accept: '.skinlens,application/json', class: 'import-file',
    'aria-label': 'A SkinLens spots file'});
  const passphrase = passphraseInput('The file\'s passphrase', 'current-password');
  const mode = el('select', {class: 'import-mode', 'aria-label': 'How to import'},
    new Option('add to the spots here (merge)', 'merge'), new Option('replace the spots here', 'replace'));
  const importButton = button('Import', () => act(async () => {
    if (!file.files[0]) throw new Error('Choose a spots file first.');
    if (mode.value === 'replace' && !window.confirm('Replace every spot here with the file\'s?')) return;
    const counts = await store.importFile(await file.files[0].text(), passphrase.value, mode.value);
    message = `Imported ${counts.spots} spot${counts.spots === 1 ? '' : 's'} and ${counts.visits} visit` +
      `${counts.visits === 1 ? '' : 's'}.`;
  }));
  const details = el('details', {class: 'spots-backup', open: backupOpen}, el('summary', {text: 'Backup: export or import'}),
    el('p', {class: 'hint', text: 'The export is one file with every spot and photo, encrypted with your passphrase: ' +
      'it opens on another device with the same passphrase only.'}),
    button('Export all spots', () => act(async () => {
      download(await store.exportFile(), `skinlens-spots-${today()}.skinlens`, 'application/json');
      message = 'Exported: keep the file and your passphrase.';
    })),
    el('div', {class: 'import-row'}, el('label', {}, 'File ', file), el('label', {}, 'Its passphrase ', passphrase),
      el('label', {}, 'Then ', mode), importButton));
  details.addEventListener('toggle', () => { backupOpen = details.open; });
  return details;
}

/** The form that keeps the pending photo: into a spot already followed or a new one. */
function keepForm(spots) {
  const {result, file} = pending;
  const target = el('select', {class: 'keep-target'}, new Option('a new spot', ''),
    ...spots.map((spot) => new Option(`${spot.name} (${siteLabel(spot.site)})`, spot.id)));
  const name = el('input', {type: 'text', class: 'spot-name', 'aria-label': 'Name of the spot', maxlength: '80',
    placeholder: 'e.g. mole on left shoulder'});
  const clinicalSite = result.clinical?.site ?? '';
  const picker = bodyPicker(siteField(), {site: clinicalSite});
  const newSpot = el('div', {class: 'new-spot'}, el('label', {}, 'Name ', name), picker.element);
  target.addEventListener('change', () => { newSpot.hidden = Boolean(target.value); });
  const date = el('input', {type: 'date', class: 'visit-date', value: today(), max: today(), 'aria-label': 'Date of the photo'});
  const form = el('form', {class: 'keep-form spots-form', action: 'search', autocomplete: 'off', on: {submit: (event) => {
    event.preventDefault();
    act(async () => {
      let spotId = target.value;
      if (!spotId) {
        if (!name.value.trim()) throw new Error('Give the spot a name.');
        spotId = (await store.putSpot({name: name.value.trim(), ...picker.value()})).id;
      }
      const photo = await downscale(file);
      await store.putVisit({spotId, date: date.value || today(), answer: answerOf(result),
        modelVersion: getModel().version, size: null, checklist: null}, photo);
      pending = null;
      view = {spotId, panel: null, compare: null};
      message = 'Kept. Measure it or answer the checklist below.';
    });
  }}},
  el('p', {}, el('strong', {text: `Keep ${result.file}: `}), answerText(answerOf(result))),
  el('label', {}, 'Add to ', target), newSpot, el('label', {}, 'Date ', date),
  el('div', {class: 'actions'}, el('button', {type: 'submit', class: 'button primary', text: 'Keep this photo'}),
    button('Cancel', () => { pending = null; render(); })));
  return el('section', {class: 'keep', 'aria-label': 'Keep this photo'}, form);
}

function spotList(spots) {
  if (!spots.length) return el('p', {class: 'hint', text: 'No spots yet: check a photo, then "Keep this photo in my spots".'});
  return el('ul', {class: 'spot-list'}, ...spots.map((spot) => {
    const last = spot.visits.at(-1);
    return el('li', {class: `spot-item${spot.id === view.spotId ? ' open' : ''}`},
      last && urls.has(last.id) ? el('img', {src: urls.get(last.id), alt: '', class: 'spot-thumb'}) : null,
      el('div', {class: 'spot-text'}, el('strong', {class: 'spot-title', text: spot.name}), el('br'),
        `${siteLabel(spot.site)} · ${spot.visits.length} visit${spot.visits.length === 1 ? '' : 's'}`,
        last ? ` · last ${dateText(last.date)}: ${answerText(last.answer)}` : ''),
      button(spot.id === view.spotId ? 'Close' : 'Open', () => {
        view = {spotId: spot.id === view.spotId ? null : spot.id, panel: null, compare: null};
        render();
      }));
  }));
}

function checklistForm(spot, visit) {
  const given = fromAnswers(visit.answer.clinical);
  const boxes = [...ITEMS, NEW_ITEM].map((item) => el('input', {type: 'checkbox', 'data-item': item.id,
    checked: Boolean(visit.checklist?.[item.id] ??
      (given.checked[item.id] || (item.id === 'diameter7' && visit.size?.atLeast7)))}));
  const outcome = el('p', {class: 'checklist-outcome', role: 'status'});
  const answers = () => Object.fromEntries(boxes.map((box) => [box.dataset.item, box.checked]));
  const show = () => {
    const {score, advice, reasons} = assess(answers());
    outcome.textContent = `7-point score: ${score}. ` + (advice ? `${advice} (because of ${reasons.join(', ')})` :
      'Nothing you noticed calls for an urgent visit; see a doctor about any spot that worries you.');
    outcome.classList.toggle('urgent', Boolean(advice));
  };
  for (const box of boxes) box.addEventListener('change', show);
  show();
  return el('form', {class: 'checklist spots-form', action: 'search', autocomplete: 'off', on: {submit: (event) => {
    event.preventDefault();
    act(async () => {
      await store.putVisit({...visit, checklist: answers()});
      view.panel = null;
    });
  }}},
  el('fieldset', {}, el('legend', {text: `What you noticed on ${dateText(visit.date)}`}),
    ...[...ITEMS, NEW_ITEM].map((item, i) => el('label', {class: 'check'}, boxes[i],
      ` ${item.label}${item.weight ? ` (${item.weight} point${item.weight > 1 ? 's' : ''})` : ''}`,
      given.said[item.id] && !visit.checklist ? el('span', {class: 'hint from-answers', text: ` (${given.said[item.id]})`}) :
        null))),
  outcome, el('button', {type: 'submit', class: 'button primary', text: 'Save the checklist'}));
}

async function reassess(visits) {
  const model = getModel();
  for (const visit of visits) {
    const photo = await store.photo(visit);
    const result = await model.classify(photo, visit.answer.clinical ?? {});
    await store.putVisit({...visit, reassessed: [...(visit.reassessed ?? []),
      {modelVersion: model.version, answer: answerOf(result), at: new Date().toISOString()}]});
  }
  message = `Re-assessed ${visits.length} photo${visits.length === 1 ? '' : 's'} with model ${model.version}.`;
}

function visitItem(spot, visit) {
  const checklist = visit.checklist ? assess(visit.checklist) : null;
  const again = visit.reassessed?.at(-1);
  return el('li', {class: 'visit', 'data-visit': visit.id},
    urls.has(visit.id) ? el('img', {src: urls.get(visit.id), alt: `The spot on ${dateText(visit.date)}`, class: 'visit-photo'}) : null,
    el('div', {class: 'visit-text'},
      el('strong', {text: dateText(visit.date)}), el('br'),
      answerText(visit.answer), el('span', {class: 'hint', text: ` (model ${visit.modelVersion})`}), el('br'),
      again ? el('span', {}, `Re-assessed: ${answerText(again.answer)}`,
        el('span', {class: 'hint', text: ` (model ${again.modelVersion})`}), el('br')) : null,
      `Size: ${sizeText(visit.size)}`, el('br'),
      checklist ? el('span', {class: checklist.urgent ? 'urgent' : ''},
        `Checklist score ${checklist.score}${checklist.advice ? `: ${checklist.advice}` : ''}`) : 'Checklist: not answered',
      el('div', {class: 'actions'},
        button('Measure size', () => { view.panel = {kind: 'size', visitId: visit.id}; render(); }),
        button('Checklist', () => { view.panel = {kind: 'checklist', visitId: visit.id}; render(); }),
        button('Re-assess with the model in use', () => act(() => reassess([visit]))),
        button('Delete this visit', () => window.confirm('Delete this visit and its photo?') &&
          act(() => store.removeVisit(visit.id)), 'button danger'))));
}

function comparePanel(spot) {
  const [first, last] = [spot.visits[0], spot.visits.at(-1)];
  const chosen = view.compare ?? [first.id, last.id];
  const pick = (index) => {
    const select = el('select', {class: `compare-pick compare-${index}`, 'aria-label': index ? 'Later visit' : 'Earlier visit'},
      ...spot.visits.map((visit) => new Option(dateText(visit.date), visit.id)));
    select.value = chosen[index];
    select.addEventListener('change', () => {
      view.compare = [...chosen];
      view.compare[index] = select.value;
      render();
    });
    return select;
  };
  const [a, b] = chosen.map((id) => spot.visits.find((visit) => visit.id === id));
  return el('div', {class: 'compare-panel'}, el('p', {}, 'Compare ', pick(0), ' with ', pick(1)),
    compareView(a, b, urls, {onReassess: () => act(() => reassess([a, b]))}));
}

function spotDetail(spot) {
  const panel = view.panel;
  const visit = panel?.visitId && spot.visits.find((v) => v.id === panel.visitId);
  let panelElement = null;
  if (panel?.kind === 'size' && visit) {
    panelElement = sizeTool(urls.get(visit.id), (size) => act(async () => {
      await store.putVisit({...visit, size});
      view.panel = null;
      message = `Size saved: ${sizeText(size)}.`;
    }));
  } else if (panel?.kind === 'checklist' && visit) {
    panelElement = checklistForm(spot, visit);
  } else if (panel?.kind === 'compare' && spot.visits.length > 1) {
    panelElement = comparePanel(spot);
  } else if (panel?.kind === 'record') {
    panelElement = el('div', {}, button('Print or save as PDF', printRecord, 'button primary'),
      recordView(spot, urls, siteLabel(spot.site)));
  }
  const remind = (months) => button(`Reminder in ${months} month${months === 1 ? '' : 's'} (.ics)`, () =>
    download(reminder({spotName: spot.name, months}), `skinlens-recheck-${months}m.ics`, 'text/calendar'));
  return el('section', {class: 'spot-detail', 'aria-label': spot.name},
    el('h3', {text: `${spot.name} — ${siteLabel(spot.site)}`}),
    el('div', {class: 'actions'},
      spot.visits.length > 1 ? button('Compare two visits', () => { view.panel = {kind: 'compare'}; render(); }) : null,
      button('Record for the doctor', () => { view.panel = {kind: 'record'}; render(); }),
      remind(1), remind(3),
      button('Delete this spot', () => window.confirm(`Delete ${spot.name} and all its photos?`) &&
        act(() => store.removeSpot(spot.id)), 'button danger')),
    panelElement ? el('div', {class: 'spot-panel'}, panelElement) : null,
    el('ol', {class: 'visits'}, ...spot.visits.map((v) => visitItem(spot, v))));
}

async function photoUrls(spots) {
  for (const url of urls.values()) URL.revokeObjectURL(url);
  urls = new Map();
  for (const visit of spots.flatMap((spot) => spot.visits)) {
    const blob = await store.photo(visit);
    if (blob) urls.set(visit.id, URL.createObjectURL(blob));
  }
}

/** Draws the section for the store's state. */
export async function render() {
  if (!root) return;
  const state = await store.state();
  const body = [el('p', {class: 'spots-warning', text: WARNING})];
  if (pending && state !== 'open') body.push(el('p', {class: 'alert', text: state === 'new' ?
    'To keep that photo, set up your spots first:' : 'To keep that photo, unlock your spots first:'}));
  if (state === 'new') body.push(...setUpForm());
  if (state === 'locked') body.push(...unlockForm(), el('div', {class: 'actions'}, deleteEverythingButton()));
  if (state === 'open') {
    const spots = await store.listSpots();
    if (view.spotId && !spots.some((spot) => spot.id === view.spotId)) view = {spotId: null, panel: null, compare: null};
    await photoUrls(spots);
    body.push(el('p', {class: 'spots-persist hint', text: await persistence()}),
      el('div', {class: 'actions'}, button('Lock', () => {
        store.lock();
        view = {spotId: null, panel: null, compare: null};
        render();
      }), deleteEverythingButton()));
    if (pending) body.push(keepForm(spots));
    body.push(spotList(spots));
    const open = spots.find((spot) => spot.id === view.spotId);
    if (open) body.push(spotDetail(open));
    body.push(backupControls());
  }
  const line = el('p', {class: 'spots-message', role: 'status', text: message});
  root.querySelector('.spots-body').replaceChildren(line, ...body);
  root.dataset.state = state;
}

/**
 * Adds "Keep this photo in my spots" to a result card; nothing is stored unless it is used.
 *
 * @param {HTMLElement|null} card the card card.js drew for the result.
 * @param {object} result main.js PageResult.
 * @param {File} file the photo.
 */
export function offerKeep(card, result, file) {
  if (!card || result.error || !root) return;
  const keep = button('Keep this photo in my spots', () => {
    pending = {result, file};
    message = '';
    render().then(() => root.scrollIntoView({block: 'start'}));
  }, 'button keep-photo');
  keep.setAttribute('aria-label', `Keep this photo in my spots: ${result.file}`);
  (card.querySelector('.result-body') ?? card).append(keep);
}

/**
 * Builds the section in `container` and shows it.
 *
 * @param {HTMLElement} container
 * @param {{model: function(): object}} options the model in use (skinlens.js Model), for re-assessing.
 */
export function startSpots(container, {model}) {
  root = container;
  getModel = model;
  root.replaceChildren(el('h2', {id: 'spots-title', text: 'My spots (on this device only)'}), el('div', {class: 'spots-body'}));
  root.hidden = false;
  let hiddenAt = null;
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      hiddenAt = Date.now();
    } else if (hiddenAt && Date.now() - hiddenAt > LOCK_AFTER_HIDDEN_MS) {
      store.lock();
      render();
    }
  });
  render().catch((error) => {
    console.warn(error);
    root.querySelector('.spots-body').textContent = `Your spots cannot be kept in this browser: ${error.message}`;
  });
}
