/**
 * "Try your own model": the buttons that choose a model folder or its files from disk, "Back to the
 * shipped model", and the line that says which model is in use (or why a chosen one was refused).
 */
import {byId} from './dom.js';
import {datasetOf} from './metadata.js';

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
