/**
 * The record of one spot for a doctor: every visit with its photo, date, size, answer, the answers about the
 * person and the spot it used, and model version, and what the person noticed (checklist score and advice); printed alone (or saved as PDF from the print
 * dialog) through spots.css's print rules.
 *
 *   container.append(recordView(spot, urls, siteLabel));  printRecord();
 */
import {ITEMS, NEW_ITEM, assess} from './checklist.js';
import {answerText, dateText, el, sizeText} from './dom.js';

/** The answers ticked, in words. */
function noticed(checklist) {
  if (!checklist) return 'not asked';
  const ticked = [...ITEMS, NEW_ITEM].filter((item) => checklist[item.id]).map((item) => item.label.toLowerCase());
  const {score, advice} = assess(checklist);
  return `${ticked.length ? ticked.join('; ') : 'nothing'} — 7-point score ${score}` + (advice ? `. ${advice}` : '');
}

/** The answers about the person and the spot that the visit's answer used, as given with the photo. */
function given(clinical) {
  if (!clinical) return 'not kept with this visit';
  const entries = Object.entries(clinical);
  return entries.length ? entries.map(([name, value]) => `${name}: ${value}`).join('; ') : 'none (the photo alone)';
}

/**
 * @param {object} spot store.js listSpots entry.
 * @param {Map<string, string>} urls blob: URLs of the photos by visit id.
 * @param {string} siteLabel the body site in words.
 */
export function recordView(spot, urls, siteLabel) {
  const rows = spot.visits.map((visit) => el('article', {class: 'record-visit'},
    urls.has(visit.id) ? el('img', {src: urls.get(visit.id), alt: `The spot on ${dateText(visit.date)}`}) : null,
    el('dl', {},
      el('dt', {text: 'Date'}), el('dd', {text: dateText(visit.date)}),
      el('dt', {text: 'Size'}), el('dd', {text: sizeText(visit.size)}),
      el('dt', {text: 'SkinLens'}), el('dd', {text: `${answerText(visit.answer)} (model ${visit.modelVersion})`}),
      el('dt', {text: 'Answers given'}), el('dd', {text: given(visit.answer?.clinical)}),
      ...(visit.reassessed ?? []).flatMap((again) => [el('dt', {text: 'Re-assessed'}),
        el('dd', {text: `${answerText(again.answer)} (model ${again.modelVersion}, ${dateText(again.at)})`})]),
      el('dt', {text: 'Warnings'}), el('dd', {text: visit.answer?.warnings?.length ?
        visit.answer.warnings.map((w) => w.message).join(' ') : 'none'}),
      el('dt', {text: 'Noticed'}), el('dd', {text: noticed(visit.checklist)}))));
  return el('section', {id: 'spot-record', class: 'spot-record', 'aria-label': `Record of ${spot.name}`},
    el('h3', {text: `${spot.name} — ${siteLabel}`}),
    el('p', {class: 'hint', text: `${spot.visits.length} visit${spot.visits.length === 1 ? '' : 's'}, printed ` +
      `${dateText(new Date().toISOString())}. SkinLens is a screening aid, not a diagnosis; its answers were ` +
      'computed in the browser from the photos below.'}),
    ...rows);
}

/** Prints the record alone (spots.css: body.printing-spot). */
export function printRecord() {
  document.body.classList.add('printing-spot');
  const restore = () => {
    document.body.classList.remove('printing-spot');
    window.removeEventListener('afterprint', restore);
  };
  window.addEventListener('afterprint', restore);
  window.print();
}
