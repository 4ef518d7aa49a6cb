/**
 * The activation-map overlay: one class's map from the model's `cam` output, upsampled bilinearly to
 * the photo's displayed size, normalised min..max and coloured with viridis, a colormap that stays
 * ordered for every kind of colour blindness and in greyscale.
 *
 *   const image = heatmapImageData(cam, classIndex, canvas.width, canvas.height);
 *   canvas.getContext('2d').putImageData(image, 0, 0);
 *
 * Pure apart from constructing ImageData; no TensorFlow.js.
 */

/** Viridis (matplotlib) at 0, 0.1, …, 1; colours in between are interpolated linearly. */
const VIRIDIS = ['#440154', '#482576', '#414487', '#35608d', '#2a788e', '#21908c', '#22a884', '#43bf71',
  '#7ad151', '#bbdf27', '#fde725'].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));

/** Opacity of the overlay: the lesion stays visible beneath it. */
export const OVERLAY_ALPHA = 0.6;

/**
 * The viridis colour of a value in 0..1 (clamped).
 *
 * @param {number} t
 * @param {number[]} [out] where to write the colour: heatmapImageData reuses one array for every pixel,
 *   since an array made per pixel took the overlay of one photo past 50 ms on the page's thread.
 * @returns {number[]} [r, g, b] in 0..255 (`out`).
 */
export function viridis(t, out = [0, 0, 0]) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  for (let k = 0; k < 3; k++) out[k] = Math.round(VIRIDIS[i][k] + (VIRIDIS[i + 1][k] - VIRIDIS[i][k]) * f);
  return out;
}

/**
 * One class's map, [h, w] row-major, from the cam output's [h, w, classes] values.
 *
 * @param {{height: number, width: number, classes: number, values: ArrayLike<number>}} cam
 * @param {number} classIndex
 * @returns {Float32Array}
 */
export function classMap({height, width, classes, values}, classIndex) {
  const map = new Float32Array(height * width);
  for (let i = 0; i < map.length; i++) map[i] = values[i * classes + classIndex];
  return map;
}

/**
 * Bilinear resize with half-pixel centres (as tf.image.resizeBilinear with halfPixelCenters), edges clamped.
 *
 * @param {ArrayLike<number>} grid [h, w] row-major.
 * @param {number} h
 * @param {number} w
 * @param {number} outH
 * @param {number} outW
 * @returns {Float32Array} [outH, outW] row-major.
 */
export function upsampleBilinear(grid, h, w, outH, outW) {
  const out = new Float32Array(outH * outW);
  const source = (o, n, outN) => Math.min(n - 1, Math.max(0, (o + 0.5) * (n / outN) - 0.5));
  for (let y = 0; y < outH; y++) {
    const sy = source(y, h, outH);
    const y0 = Math.floor(sy);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < outW; x++) {
      const sx = source(x, w, outW);
      const x0 = Math.floor(sx);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = sx - x0;
      const top = grid[y0 * w + x0] * (1 - fx) + grid[y0 * w + x1] * fx;
      const bottom = grid[y1 * w + x0] * (1 - fx) + grid[y1 * w + x1] * fx;
      out[y * outW + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/**
 * The overlay for one class: its map stretched over the whole photo (the model saw the photo stretched
 * to its square input, so the map covers it edge to edge), normalised so its lowest value is 0 and its
 * highest 1. A flat map is drawn as all 0.
 *
 * @param {{height: number, width: number, classes: number, values: ArrayLike<number>}} cam
 * @param {number} classIndex
 * @param {number} width of the overlay, in pixels.
 * @param {number} height of the overlay, in pixels.
 * @returns {ImageData}
 */
export function heatmapImageData(cam, classIndex, width, height) {
  const values = upsampleBilinear(classMap(cam, classIndex), cam.height, cam.width, height, width);
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const range = high - low;
  const image = new ImageData(width, height);
  const alpha = Math.round(OVERLAY_ALPHA * 255);
  const rgb = [0, 0, 0];
  for (let i = 0; i < values.length; i++) {
    viridis(range > 0 ? (values[i] - low) / range : 0, rgb);
    image.data[i * 4] = rgb[0];
    image.data[i * 4 + 1] = rgb[1];
    image.data[i * 4 + 2] = rgb[2];
    image.data[i * 4 + 3] = alpha;
  }
  return image;
}
