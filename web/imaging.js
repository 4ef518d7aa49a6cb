/**
 * The browser half of SkinLens' preprocessing contract (metadata.json "preprocess"). The Python half
 * must turn the same file into the same [1, H, W, 3] float32 tensor of raw 0–255 RGB:
 *
 *   1. decodeImage: sniff the format, check the size caps, decode with the EXIF orientation applied
 *      and no colour-profile conversion;
 *   2. bitmapToPixels, rgbTensor: composite over an opaque background colour, keep RGB;
 *   3. preprocess: average-pool by the largest whole factor that keeps both sides ≥ the model's,
 *      then bilinear resize (half-pixel centres) to exactly H×W, stretching: the aspect is not kept.
 *
 * Messages of ImageError (errors.js) are written for the person who chose the file; codes for programs.
 */
import {ImageError} from './errors.js';

export {ImageError};

/** Major brands at offset 8 of an ISO-BMFF `ftyp` box: HEIC/HEIF (iPhone photos) and AVIF (trainer/images.py's). */
const HEIF_BRANDS = ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'];
const AVIF_BRANDS = ['avif', 'avis'];

/** Enough of the file to find the dimensions in the header of nearly every JPEG (EXIF, ICC, …). */
const HEADER_BYTES = 256 * 1024;

const MB = 1024 * 1024;

/**
 * Recognises an image format from a file's first bytes (its magic number), whatever its name says.
 *
 * @param {Uint8Array} bytes the start of the file; 12 bytes suffice.
 * @returns {'jpeg'|'png'|'gif'|'webp'|'bmp'|'heic'|'avif'|null} null when it is none of these.
 */
function sniffFormat(bytes) {
  const ascii = (start, end) => String.fromCharCode(...bytes.subarray(start, end));
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 2) === 'BM') return 'bmp';
  if (ascii(4, 8) === 'ftyp' && HEIF_BRANDS.includes(ascii(8, 12))) return 'heic';
  if (ascii(4, 8) === 'ftyp' && AVIF_BRANDS.includes(ascii(8, 12))) return 'avif';
  return null;
}

/**
 * Width and height from a JPEG's start-of-frame segment, or null if it has none before the image data.
 * Walks the segments of the whole file, reading on past `head` (HEADER_BYTES) where the frame header sits
 * further in (big EXIF or ICC segments, padding), so that no file decodes before its size is checked.
 *
 * @param {Blob} blob the file.
 * @param {Uint8Array} head its first bytes.
 * @returns {Promise<{width: number, height: number}|null>}
 */
async function jpegSize(blob, head) {
  let [bytes, base, offset] = [head, 0, 2];
  for (;;) {
    if (offset - base + 9 > bytes.byteLength) {
      if (offset + 9 > blob.size) return null;
      [bytes, base] = [new Uint8Array(await blob.slice(offset, offset + HEADER_BYTES).arrayBuffer()), offset];
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset - base, 9);
    if (view.getUint8(0) !== 0xff) return null;
    const marker = view.getUint8(1);
    if (marker === 0xff) {
      offset += 1; // fill byte
    } else if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return {height: view.getUint16(5), width: view.getUint16(7)};
    } else if (marker === 0xda) {
      return null; // start of scan: the image data, and no frame header before it
    } else {
      offset += 2 + view.getUint16(2);
    }
  }
}

/** Width and height from a WebP's first chunk (lossy VP8, lossless VP8L or extended VP8X). */
function webpSize(view) {
  const chunk = String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + 12, 4));
  const uint24 = (offset) => view.getUint16(offset, true) | (view.getUint8(offset + 2) << 16);
  if (chunk === 'VP8 ') {
    return {width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff};
  }
  if (chunk === 'VP8L') {
    const bits = view.getUint32(21, true);
    return {width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1};
  }
  if (chunk === 'VP8X') return {width: uint24(24) + 1, height: uint24(27) + 1};
  return null;
}

/**
 * The dimensions a file's header declares, read without decoding it, or null if they are not in `bytes`.
 *
 * @param {Uint8Array} bytes the start of the file.
 * @param {'png'|'gif'|'webp'|'bmp'} format from sniffFormat (a JPEG's: jpegSize).
 * @returns {{width: number, height: number}|null}
 */
function headerSize(bytes, format) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    switch (format) {
      case 'png':
        return {width: view.getUint32(16), height: view.getUint32(20)};
      case 'gif':
        return {width: view.getUint16(6, true), height: view.getUint16(8, true)};
      case 'webp':
        return webpSize(view);
      case 'bmp':
        // A 12-byte BITMAPCOREHEADER has 16-bit sizes; later headers 32-bit, height negative when top-down.
        return view.getUint32(14, true) === 12 ?
          {width: view.getUint16(18, true), height: view.getUint16(20, true)} :
          {width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true))};
    }
  } catch (error) {
    if (error instanceof RangeError) return null; // header shorter than the file format says
    throw error;
  }
  return null;
}

/** Throws an ImageError if width × height is outside metadata.preprocess's limits. */
function checkSize({width, height}, {max_pixels: maxPixels, min_side: minSide}) {
  if (width * height > maxPixels) {
    const megapixels = (n) => (n / 1e6).toFixed(1);
    throw new ImageError('too-many-pixels', `this image is ${width}×${height} (${megapixels(width * height)} megapixels); ` +
      `SkinLens reads up to ${megapixels(maxPixels)} megapixels: save a smaller copy and try that`);
  }
  if (Math.min(width, height) < minSide) {
    throw new ImageError('too-small', `this image is too small (${width}×${height} pixels): ` +
      `SkinLens needs at least ${minSide} pixels on each side`);
  }
}

/**
 * Decodes an image file the way the Python side does: EXIF orientation applied, colour profile ignored,
 * alpha not premultiplied. Checks the byte and pixel caps first, from the header, so an oversized image
 * is refused before it is decoded.
 *
 * @param {Blob} blob the file.
 * @param {object} preprocess metadata.preprocess (max_bytes, max_pixels, min_side).
 * @returns {Promise<ImageBitmap>} the caller closes it.
 * @throws {ImageError} with a message for the user.
 */
export async function decodeImage(blob, preprocess) {
  if (blob.size === 0) throw new ImageError('empty', 'the file is empty');
  if (blob.size > preprocess.max_bytes) {
    // As many decimals as it takes for the file's size to read as more than the limit (50.000001 MB).
    const limit = preprocess.max_bytes / MB;
    const digits = [1, 2, 3, 4, 5, 6].find((d) => Number((blob.size / MB).toFixed(d)) > limit) ?? 6;
    throw new ImageError('too-large', `this file is ${(blob.size / MB).toFixed(digits)} MB; ` +
      `SkinLens reads images up to ${Number(limit.toFixed(6))} MB`);
  }
  const head = new Uint8Array(await blob.slice(0, HEADER_BYTES).arrayBuffer());
  const format = sniffFormat(head);
  if (format === 'heic') {
    throw new ImageError('heic', "HEIC photos can't be read by this browser: export as JPEG " +
      '(on iPhone: Settings → Camera → Formats → Most Compatible)');
  }
  if (format === 'avif') {
    throw new ImageError('avif', 'AVIF images are not supported: export it as JPEG or PNG');
  }
  if (format === null) {
    throw new ImageError('not-an-image', 'not an image SkinLens can read (it reads JPEG, PNG, GIF, WebP and BMP)');
  }
  const declared = format === 'jpeg' ? await jpegSize(blob, head) : headerSize(head, format);
  // A JPEG may leave its height (0 here) to a later DNL segment: then only the check after decoding applies.
  if (declared?.width > 0 && declared?.height > 0) checkSize(declared, preprocess);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  } catch {
    throw new ImageError('corrupt', 'the file looks like an image but could not be decoded (corrupt?)');
  }
  // Checked again because a header can lie about its size.
  try {
    checkSize(bitmap, preprocess);
  } catch (error) {
    bitmap.close();
    throw error;
  }
  return bitmap;
}

/**
 * Composites an image over an opaque background and reads its pixels back, as RGBA bytes whose alpha
 * is always 255. Filling the background first means no premultiplied-alpha rounding reaches the pixels.
 *
 * @param {ImageBitmap|HTMLCanvasElement|OffscreenCanvas} source
 * @param {number[]} background [r, g, b], metadata.preprocess.alpha_background.
 * @returns {{data: Uint8ClampedArray, width: number, height: number, channels: 4}}
 */
export function bitmapToPixels(source, background) {
  const {width, height} = source;
  const canvas = typeof OffscreenCanvas === 'function' ?
    new OffscreenCanvas(width, height) :
    Object.assign(document.createElement('canvas'), {width, height});
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.fillStyle = `rgb(${background.join(', ')})`;
  context.fillRect(0, 0, width, height);
  context.drawImage(source, 0, 0);
  return {data: context.getImageData(0, 0, width, height).data, width, height, channels: 4};
}

/**
 * Makes the float32 RGB tensor that preprocess() takes from RGB or RGBA bytes, dropping alpha.
 * Copying into a Float32Array first, rather than slicing an int32 tensor, keeps a 50-megapixel photo to
 * one full-size tensor instead of three.
 *
 * @param {object} tf the TensorFlow.js namespace.
 * @param {{data: Uint8Array|Uint8ClampedArray, width: number, height: number, channels: number}} pixels
 *   channels 3 (RGB) or 4 (RGBA, alpha ignored: composite it first, as bitmapToPixels does).
 * @returns {tf.Tensor3D} [height, width, 3] float32 in 0–255; the caller disposes it.
 */
export function rgbTensor(tf, {data, width, height, channels}) {
  if ((channels !== 3 && channels !== 4) || data.length !== width * height * channels) {
    throw new Error(`expected ${width}×${height} pixels of 3 or 4 channels, got ${data.length} values ` +
      `for ${channels} channels`);
  }
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += channels, j += 3) {
    rgb[j] = data[i];
    rgb[j + 1] = data[i + 1];
    rgb[j + 2] = data[i + 2];
  }
  return tf.tensor3d(rgb, [height, width, 3], 'float32');
}

/**
 * Resizes an RGB image to the model's input: average pooling by k = max(1, min(⌊h/H⌋, ⌊w/W⌋)), then
 * bilinear resize to H×W with half-pixel centres (TensorFlow's tf.image.resize, antialias off).
 * The aspect ratio is not kept. Values stay raw 0–255: the model normalises them itself.
 *
 * @param {object} tf the TensorFlow.js namespace.
 * @param {tf.Tensor3D} rgb [h, w, 3] pixels (from rgbTensor), any numeric dtype; not disposed.
 * @param {object} metadata the whole metadata.json (input.height, input.width).
 * @returns {tf.Tensor4D} [1, H, W, 3] float32; the caller disposes it.
 */
export function preprocess(tf, rgb, metadata) {
  const {height: H, width: W} = metadata.input;
  const [h, w] = rgb.shape;
  const k = Math.max(1, Math.min(Math.floor(h / H), Math.floor(w / W)));
  return tf.tidy(() => {
    let x = tf.expandDims(tf.cast(rgb, 'float32'), 0);
    if (k > 1) x = tf.avgPool(x, [k, k], [k, k], 'valid');
    return tf.image.resizeBilinear(x, [H, W], false, true);
  });
}
