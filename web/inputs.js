/**
 * The ways to add photos (the file chooser, the camera, dropping them anywhere on the page, pasting), and
 * turning every input off while a batch is being classified.
 */
import {byId} from './dom.js';

/**
 * Enables every way of adding photos and calls `handler` with the files each time some are added:
 * the two buttons (file chooser, camera), dropping files anywhere on the page, and pasting.
 *
 * @param {function(File[]): Promise<void>} handler called with at least one file; never concurrently
 *   with itself. Photos added while it runs (dropped, pasted, or chosen in a file dialog opened before the batch
 *   began) are refused in words beside the drop zone, never dropped without a word: they would otherwise
 *   replace the results of the batch still being classified.
 */
export function onFilesChosen(handler) {
  let busy = false;
  const note = byId('input-note');
  const run = async (files) => {
    if (files.length === 0) return;
    if (busy) {
      note.textContent = `${files.length === 1 ? 'One photo was' : `${files.length} photos were`} not added: ` +
        'SkinLens is still classifying the others. Add them again once it is done.';
      note.hidden = false;
      return;
    }
    note.hidden = true;
    note.textContent = '';
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
