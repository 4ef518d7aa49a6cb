/**
 * A spot's size from a reference of known size in the same photo: the person marks the reference's two
 * ends (a coin's diameter, two marks of a ruler, anything whose length they type) and the spot's two
 * diameters (longest, and across it); lengths are in the photo's pixels.
 *
 *   const size = measure({ref: [[10, 50], [210, 50]], refMm: 23.25, d1: [[...], [...]], d2: [[...], [...]]});
 *   size.mm, size.uncertaintyMm, size.atLeast6
 *
 * Uncertainty: each marked point is taken to be off by up to `pointError` pixels (about a fingertip's or
 * cursor's placement at the scale the photo was shown); a length then has an error of √2·e, and the size,
 * a ratio of lengths, adds their relative errors in quadrature (first-order propagation).
 */

/** Common coins, diameter in mm (the issuing mints' figures). */
export const COINS = [
  {id: 'eur-1', label: '1 euro', mm: 23.25},
  {id: 'eur-2', label: '2 euro', mm: 25.75},
  {id: 'eur-0.10', label: '10 euro cent', mm: 19.75},
  {id: 'gbp-1', label: '£1 (12-sided)', mm: 23.43},
  {id: 'gbp-0.01', label: '1p', mm: 20.3},
  {id: 'usd-0.25', label: 'US quarter', mm: 24.26},
  {id: 'usd-0.01', label: 'US penny', mm: 19.05},
  {id: 'cad-1', label: 'Canadian $1 (loonie)', mm: 26.5},
  {id: 'aud-1', label: 'Australian $1', mm: 25.0},
  {id: 'chf-1', label: '1 Swiss franc', mm: 23.2},
  {id: 'jpy-100', label: '100 yen', mm: 22.6},
  {id: 'inr-1', label: '1 rupee (2019)', mm: 20.0},
];

/** NICE's minor feature (7 mm) and the ABCDE "D" (6 mm). */
export const ABCDE_MM = 6;
export const NICE_MM = 7;

/** Length between two points [x, y]. */
export function length([a, b]) {
  return Math.hypot(b[0] - a[0], b[1] - a[1]);
}

/**
 * The spot's size.
 *
 * @param {{ref: number[][], refMm: number, d1: number[][], d2?: number[][], pointError?: number}} marks
 * @returns {{mm: number, d1Mm: number, d2Mm: number|null, uncertaintyMm: number, atLeast6: boolean,
 *   atLeast7: boolean, mmPerPixel: number}} mm is the larger diameter, which the 6 mm rule is about.
 */
export function measure({ref, refMm, d1, d2 = null, pointError = 2}) {
  const refPx = length(ref);
  if (!(refPx > 0) || !(refMm > 0)) throw new Error('mark the reference\'s two ends and give its length');
  const mmPerPixel = refMm / refPx;
  const diameters = [d1, d2].filter(Boolean).map(length);
  const largest = Math.max(...diameters);
  const lengthError = Math.SQRT2 * pointError;
  const relative = Math.hypot(lengthError / largest, lengthError / refPx);
  const mm = largest * mmPerPixel;
  return {mm, d1Mm: diameters[0] * mmPerPixel, d2Mm: d2 ? diameters[1] * mmPerPixel : null,
    uncertaintyMm: mm * relative, atLeast6: mm >= ABCDE_MM, atLeast7: mm >= NICE_MM, mmPerPixel};
}
