/**
 * The marking tool for size.js: the visit's photo on a canvas, a reference chosen (a coin, a ruler, any
 * typed length), then six clicks or taps: the reference's two ends, the spot's longest diameter, the
 * diameter across it. Shows the size with its uncertainty as soon as it can.
 */
import {COINS, measure} from './size.js';
import {button, el, sizeText} from './dom.js';

const STEPS = [
  {name: 'ref', prompt: 'Click or tap the two ends of the reference (a coin: straight across its middle).'},
  {name: 'd1', prompt: 'Now the two ends of the spot\'s longest diameter.'},
  {name: 'd2', prompt: 'Now the two ends of the spot\'s diameter across that one.'},
];
const COLOURS = {ref: '#0b5cad', d1: '#b34700', d2: '#7a2a8c'};
/** How far off a click or tap is taken to be, in screen pixels (size.js pointError is in photo pixels). */
const CLICK_ERROR_PX = 2;

/**
 * @param {string} photoUrl a blob: URL of the visit's photo.
 * @param {function(object): void} onSave called with size.js measure's result and the reference used.
 * @returns {HTMLElement}
 */
export function sizeTool(photoUrl, onSave) {
  const reference = el('select', {class: 'size-reference'},
    ...COINS.map((coin) => new Option(`${coin.label} (${coin.mm} mm)`, coin.id)),
    new Option('a ruler: the length between the two marks I click', 'ruler'),
    new Option('something else: I type its length', 'other'));
  const typed = el('input', {type: 'number', class: 'size-typed', min: '0.5', max: '500', step: '0.1', value: '10',
    'aria-label': 'Length of the reference in mm'});
  const typedLabel = el('label', {hidden: true}, 'Its length (mm) ', typed);
  const prompt = el('p', {class: 'size-prompt', role: 'status'});
  const outcome = el('p', {class: 'size-outcome', role: 'status'});
  const canvas = el('canvas', {class: 'size-canvas'});
  const image = new Image();
  const marks = {ref: [], d1: [], d2: []};
  let size = null;

  const refMm = () => {
    const coin = COINS.find((c) => c.id === reference.value);
    return coin ? coin.mm : Number(typed.value);
  };
  const step = () => STEPS.find((s) => marks[s.name].length < 2) ?? null;

  function draw() {
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
    for (const [name, points] of Object.entries(marks)) {
      context.strokeStyle = context.fillStyle = COLOURS[name];
      context.lineWidth = 2 * scale;
      for (const [x, y] of points) {
        context.beginPath();
        context.arc(x, y, 4 * scale, 0, 2 * Math.PI);
        context.fill();
      }
      if (points.length === 2) {
        context.beginPath();
        context.moveTo(...points[0]);
        context.lineTo(...points[1]);
        context.stroke();
      }
    }
  }

  function update() {
    typedLabel.hidden = COINS.some((c) => c.id === reference.value);
    const next = step();
    prompt.textContent = next ? next.prompt : 'Done: save the size, or start again.';
    size = null;
    if (marks.ref.length === 2 && marks.d1.length === 2) {
      const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
      try {
        size = measure({ref: marks.ref, refMm: refMm(), d1: marks.d1, d2: marks.d2.length === 2 ? marks.d2 : null,
          pointError: Math.max(1, CLICK_ERROR_PX * scale)});
      } catch (error) {
        outcome.textContent = error.message;
      }
    }
    outcome.textContent = size ? `Size: ${sizeText(size)}.` + (size.atLeast6 ?
      ' A spot 6 mm across or more is one of the ABCDE warning signs: show it to a doctor.' : '') : outcome.textContent;
    save.disabled = !size;
    draw();
  }

  canvas.addEventListener('click', (event) => {
    const next = step();
    if (!next) return;
    const rect = canvas.getBoundingClientRect();
    marks[next.name].push([(event.clientX - rect.left) * canvas.width / rect.width,
      (event.clientY - rect.top) * canvas.height / rect.height]);
    update();
  });
  reference.addEventListener('change', update);
  typed.addEventListener('input', update);
  const again = button('Start again', () => {
    for (const points of Object.values(marks)) points.length = 0;
    outcome.textContent = '';
    update();
  });
  const save = button('Save the size', () => size && onSave({...size, reference: reference.value, refMm: refMm(),
    marks: structuredClone(marks)}), 'button primary');
  image.addEventListener('load', () => {
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    update();
  });
  image.src = photoUrl;
  return el('div', {class: 'size-tool'},
    el('label', {}, 'Reference in the photo ', reference), typedLabel, prompt, canvas, outcome,
    el('div', {class: 'actions'}, again, save));
}
