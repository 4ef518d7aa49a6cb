/**
 * Progress without the DOM: counting a download's bytes as they arrive, and estimating a batch's time left.
 * skinlens.js reports the model download through readCounting; main.js estimates with timeLeftMs; status.js
 * draws both as <progress> bars.
 */

/**
 * Reads a response's body chunk by chunk, calling `onBytes(n)` for each chunk as it arrives: a download
 * from the network and one the service worker answers from its cache are both counted, because both
 * are streams of bytes to the page.
 *
 * @param {Response} response an ok response.
 * @param {function(number): void} onBytes called with each chunk's length.
 * @returns {Promise<ArrayBuffer>} the whole body.
 */
export async function readCounting(response, onBytes) {
  if (!response.body) {
    const bytes = await response.arrayBuffer();
    onBytes(bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.byteLength;
    onBytes(value.byteLength);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes.buffer;
}

/**
 * The time a batch still needs, from the photos already done: their mean time for each photo left.
 *
 * @param {number} elapsedMs time spent on the `done` photos.
 * @param {number} done photos finished.
 * @param {number} total photos in the batch.
 * @returns {number|null} milliseconds; null before the first photo is done (nothing to estimate from).
 */
export function timeLeftMs(elapsedMs, done, total) {
  return done === 0 ? null : (elapsedMs / done) * (total - done);
}
