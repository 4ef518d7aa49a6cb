/**
 * The only SkinLens module that touches the page's DOM: status line, model line, file input, result cards.
 * Text from files and metadata goes in through textContent, never as HTML.
 */

const THUMBNAIL_SIZE = 320; // longest side, in canvas pixels (shown at half that on screen)

const byId = (id) => document.getElementById(id);

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

/**
 * Shows which model and TensorFlow.js backend classify the photos.
 *
 * @param {object} metadata model/metadata.json.
 * @param {string} backend e.g. 'wasm'.
 */
export function showModel(metadata, backend) {
  byId('model-name').textContent = metadata.model.name;
  byId('model-version').textContent = metadata.model.version;
  byId('model-backend').textContent = backend;
  byId('model-info').hidden = false;
}

/**
 * Enables the file input and calls `handler` with the files each time the user picks some.
 *
 * @param {function(File[]): Promise<void>} handler
 */
export function onFilesChosen(handler) {
  const input = byId('files');
  input.addEventListener('change', async () => {
    const files = Array.from(input.files);
    input.value = ''; // so that choosing the same file again fires `change`
    if (files.length > 0) await handler(files);
  });
  input.disabled = false;
}

/**
 * Disables the file input while a batch is being classified.
 *
 * @param {boolean} busy
 */
export function setBusy(busy) {
  byId('files').disabled = busy;
}

/** Removes the previous batch's result cards. */
export function clearResults() {
  byId('results').replaceChildren();
}

/** A canvas showing the decoded photo (EXIF orientation applied, as the model saw it, aspect kept). */
function thumbnail(bitmap, label) {
  const scale = Math.min(1, THUMBNAIL_SIZE / Math.max(bitmap.width, bitmap.height));
  const canvas = element('canvas', 'thumbnail');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', label);
  return canvas;
}

/** The table of every class in metadata order, the most likely one marked with text as well as style. */
function probabilityTable(classes, probabilities, topIndex) {
  const table = element('table', 'classes');
  const caption = element('caption', 'visually-hidden', 'Probability of each type of skin lesion');
  table.append(caption);
  classes.forEach((cls, index) => {
    const row = element('tr', index === topIndex ? 'is-top' : '');
    const name = element('th', 'class-name', cls.name);
    name.scope = 'row';
    name.title = cls.description ?? '';
    if (cls.malignant) name.append(' ', element('span', 'tag', 'malignant'));
    if (index === topIndex) name.prepend(element('span', 'top-mark', 'Most likely: '));
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

/**
 * Adds a result card for one file: thumbnail, file name and every class with its probability,
 * or the message saying why the file could not be classified.
 *
 * @param {{file: string, probabilities: number[]|null, top: object|null, error: string|null, ms: number|null}} result
 * @param {object[]} classes metadata.classes.
 * @param {ImageBitmap|null} bitmap the decoded photo, when decoding succeeded.
 */
export function showResult(result, classes, bitmap) {
  const card = element('article', result.error ? 'result failed' : 'result');
  const body = element('div', 'result-body');
  body.append(element('h2', 'file-name', result.file));
  if (result.error) {
    body.append(element('p', 'error', `Could not classify: ${result.error}`));
  } else {
    const topIndex = classes.findIndex((cls) => cls.id === result.top.id);
    body.append(probabilityTable(classes, result.probabilities, topIndex),
      element('p', 'timing', `Classified in ${Math.round(result.ms)} ms`));
  }
  if (bitmap) card.append(thumbnail(bitmap, `Photo ${result.file}`));
  card.append(body);
  byId('results').append(card);
}
