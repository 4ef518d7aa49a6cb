/**
 * Two visits of one spot, side by side and overlaid with a fade slider, with the change in risk and in
 * size between them. A risk change across two model versions is flagged: it may be the model, not the
 * spot (re-assessing both photos with the model in use answers that).
 *
 *   container.append(compareView(before, after, urls, {onReassess}));
 */
import {answerText, button, dateText, el, sizeText} from './dom.js';

/** The answer to compare: the latest re-assessment when there is one, else the one given at the visit. */
export function currentAnswer(visit) {
  const latest = visit.reassessed?.at(-1);
  return latest ? {answer: latest.answer, modelVersion: latest.modelVersion} :
    {answer: visit.answer, modelVersion: visit.modelVersion};
}

/**
 * The change between two visits, in words.
 *
 * @returns {{risk: string, size: string, sameModel: boolean}}
 */
export function change(before, after) {
  const a = currentAnswer(before);
  const b = currentAnswer(after);
  const sameModel = a.modelVersion === b.modelVersion;
  let risk = 'Risk: not given by this model.';
  if (a.answer?.risk != null && b.answer?.risk != null) {
    // The change between the two percentages shown, so that "60% → 0%" never reads "−59 points".
    const [from, to] = [Math.round(a.answer.risk * 100), Math.round(b.answer.risk * 100)];
    const points = to - from;
    risk = `Risk: ${from}% → ${to}% (${points > 0 ? '+' : points < 0 ? '−' : '±'}${Math.abs(points)} points)`;
    if (a.answer.band !== b.answer.band) risk += `; concern ${a.answer.band} → ${b.answer.band}`;
    risk += sameModel ? '.' : `. The two answers come from different model versions (${a.modelVersion}, ` +
      `${b.modelVersion}): re-assess both with the model in use to compare like with like.`;
  }
  let size = 'Size: measure both visits to compare.';
  if (before.size && after.size) {
    const delta = after.size.mm - before.size.mm;
    const margin = Math.hypot(before.size.uncertaintyMm, after.size.uncertaintyMm);
    size = `Size: ${before.size.mm.toFixed(1)} → ${after.size.mm.toFixed(1)} mm (${delta >= 0 ? '+' : '−'}` +
      `${Math.abs(delta).toFixed(1)} ± ${margin.toFixed(1)} mm)` +
      (Math.abs(delta) > 2 * margin ? ': a change larger than the marking can explain.' : ': within what the marking can tell.');
  }
  return {risk, size, sameModel};
}

function visitFigure(visit, url, which) {
  const {answer, modelVersion} = currentAnswer(visit);
  return el('figure', {class: 'compare-photo'},
    el('img', {src: url, alt: `${which}: the spot on ${dateText(visit.date)}`}),
    el('figcaption', {}, el('strong', {text: dateText(visit.date)}), el('br'), answerText(answer), el('br'),
      `Size: ${sizeText(visit.size)}`, el('br'), el('span', {class: 'hint', text: `model ${modelVersion}`})));
}

/**
 * @param {object} before a visit (store.js).
 * @param {object} after a later visit.
 * @param {Map<string, string>} urls blob: URLs of the visits' photos by visit id.
 * @param {{onReassess: function(): void}|null} actions
 */
export function compareView(before, after, urls, {onReassess = null} = {}) {
  const {risk, size, sameModel} = change(before, after);
  const fade = el('input', {type: 'range', min: '0', max: '100', value: '50', class: 'fade',
    'aria-label': `Fade from ${dateText(before.date)} to ${dateText(after.date)}`});
  const top = el('img', {src: urls.get(after.id), alt: '', class: 'overlay-top'});
  const setFade = () => { top.style.opacity = String(Number(fade.value) / 100); };
  fade.addEventListener('input', setFade);
  setFade();
  return el('section', {class: 'compare', 'aria-label': 'Comparison of two visits'},
    el('div', {class: 'compare-side'}, visitFigure(before, urls.get(before.id), 'Before'),
      visitFigure(after, urls.get(after.id), 'After')),
    el('div', {class: 'compare-overlay'},
      el('div', {class: 'overlay-stack'}, el('img', {src: urls.get(before.id), alt: `The spot on ${dateText(before.date)}, ` +
        `overlaid by ${dateText(after.date)}`}), top),
      el('label', {class: 'fade-label'}, `${dateText(before.date)} `, fade, ` ${dateText(after.date)}`)),
    el('ul', {class: 'compare-change'}, el('li', {text: risk}), el('li', {text: size})),
    !sameModel && onReassess ? button('Re-assess both photos with the model in use', onReassess) : null,
    el('p', {class: 'hint', text: 'Photos taken at another distance, angle or light look different even when the ' +
      'spot has not changed: take each photo the same way, the same coin beside the spot.'}));
}
