/**
 * Loads the SkinLens model described by model/metadata.json and classifies pixels with it.
 *
 *   const classifier = await load();               // or load('model/', {backends: ['cpu']})
 *   const {probabilities, top, cam, scope, ms} = await classifier.classifyBitmap(bitmap);
 *   const {passed, maxDifference} = await selfTest(classifier);
 *
 * Every model file is checked against the sha256 listed in metadata.json before it is used.
 * Needs the global `tf` from the vendored UMD bundles (core, backends, converter). No DOM access.
 */
import {bitmapToPixels, checkPreprocessContract, decodeImage, preprocess, rgbTensor} from './imaging.js';
import {assessScope, checkClinicalContract, checkScreeningContract, clinicalVector, decide, fetchMetadata, triage}
  from './metadata.js';

export {assessScope, triage};

const tf = globalThis.tf;

/** Resolved from this module's URL, so it holds wherever the site is served (e.g. a /skinlens/ sub-path). */
const WASM_PATH = new URL('vendor/tfjs/', import.meta.url).href;

/** Revalidate with the server: a model file cached from an older release would fail its checksum. */
const FETCH_OPTIONS = {cache: 'no-cache'};

/**
 * Largest |Δp| allowed between this browser and Python on the golden images before the page warns.
 * The converter records the golden probabilities from the converted graph itself, which the browser
 * reproduces to float32 rounding (about 1e-6); 1e-3 is far above that and far below a changed answer.
 */
export const SELF_TEST_TOLERANCE = 1e-3;

/** The 3×3 Laplacian of the blur check, as a conv2d filter [3, 3, in 1, out 1]. */
const LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]];
/** ITU-R BT.601 luma weights of the blur check. */
const LUMA = [0.299, 0.587, 0.114];

async function fetchBytes(url) {
  const response = await fetch(url, FETCH_OPTIONS);
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

/** Hex sha256 of bytes or a string. */
export async function sha256Hex(buffer) {
  if (typeof buffer === 'string') buffer = new TextEncoder().encode(buffer);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Downloads one model file and checks it against metadata.model.files. */
async function fetchVerified(baseUrl, name, expectedHashes) {
  const expected = expectedHashes[name];
  if (expected === undefined) throw new Error(`model file ${name} has no checksum in metadata.json`);
  const bytes = await fetchBytes(new URL(name, baseUrl));
  if (await sha256Hex(bytes) !== expected.toLowerCase()) {
    throw new Error(`model file ${name} is corrupt or altered (its sha256 does not match metadata.json)`);
  }
  return bytes;
}

/** Downloads model.json and its weight shards, checks each, and returns tfjs model artifacts. */
async function loadVerifiedArtifacts(baseUrl, model) {
  const modelJson = JSON.parse(new TextDecoder().decode(
    await fetchVerified(baseUrl, model.model_json, model.files)));
  const shardNames = modelJson.weightsManifest.flatMap((group) => group.paths);
  const shards = await Promise.all(shardNames.map((name) => fetchVerified(baseUrl, name, model.files)));
  return tf.io.getModelArtifactsForJSONSync(modelJson, tf.io.getWeightSpecs(modelJson.weightsManifest), shards);
}

/** Activates the first backend in `backends` that initialises; returns its name. */
async function selectBackend(backends) {
  const failures = [];
  for (const name of backends) {
    try {
      if (name === 'wasm') {
        // Both must precede the wasm backend's first initialisation. The threaded build (chosen when the
        // page is cross-origin isolated) loads its workers' code from blob: URLs, which our CSP's
        // script-src 'self' forbids, and then hangs instead of failing: stay single-threaded.
        tf.wasm.setWasmPaths(WASM_PATH);
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      }
      if (await tf.setBackend(name)) {
        await tf.ready();
        return name;
      }
      failures.push(`${name}: not available`);
    } catch (error) {
      failures.push(`${name}: ${error.message ?? error}`);
    }
  }
  throw new Error(`no TensorFlow.js backend works in this browser (${failures.join('; ')})`);
}

/** The mean over positions of [h, w, classes] row-major values: one number per class. */
function spatialMean(values, classes) {
  const sums = new Array(classes).fill(0);
  values.forEach((value, i) => {
    sums[i % classes] += value;
  });
  return sums.map((sum) => sum / (values.length / classes));
}

/** Describes the backend in words, e.g. 'wasm (SIMD, single thread)'. */
async function describeBackend(name) {
  if (name !== 'wasm') return name;
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `wasm (${simd ? 'SIMD' : 'no SIMD'}, single thread)`;
}

/**
 * The blur signal of one input, as a scalar tensor; call inside tf.tidy: the variance of the 3×3
 * Laplacian ('valid') of the input's luminance 0.299R + 0.587G + 0.114B (trainer/scope.py's `blur`).
 *
 * @param {object} tf the TensorFlow.js namespace.
 * @param {tf.Tensor4D} input [1, H, W, 3] float32 model input in 0–255.
 * @returns {tf.Scalar}
 */
function laplacianVariance(tf, input) {
  const luminance = tf.sum(tf.mul(input, tf.tensor1d(LUMA)), -1, true);
  const laplacian = tf.conv2d(luminance, tf.tensor4d(LAPLACIAN.flat(), [3, 3, 1, 1]), 1, 'valid');
  return tf.moments(laplacian).variance;
}

/**
 * @typedef {object} Prediction
 * @property {number[]} probabilities one per class, in metadata.classes order.
 * @property {{id: string, name: string, probability: number}} top the type shown: see metadata.js decide.
 * @property {{height: number, width: number, classes: number, values: Float32Array}|null} cam the class
 *   activation maps, [h, w, classes] row-major, in logit units; null when the model has no `cam` output.
 * @property {number[]|null} logits the spatial mean of cam, one per class (the image's logits: before the
 *   clinical offset and the temperature).
 * @property {{risk: number, threshold: number, band: 'higher'|'lower'}|null} triage see metadata.js triage.
 * @property {object} scope see metadata.js assessScope: distance, blur, topProbability, minSide, reasons.
 * @property {string[]} clinicalUsed the clinical fields the answer used (e.g. ['age', 'site']); empty when none
 *   were given or the model takes none.
 * @property {number} ms time taken by the model and the checks, in milliseconds.
 */

/**
 * @typedef {object} Classifier
 * @property {object} metadata the model's metadata.json.
 * @property {string} backend the TensorFlow.js backend in use, e.g. 'wasm'.
 * @property {string} backendDetail the backend in words, e.g. 'wasm (SIMD, single thread)'.
 * @property {string} modelSha256 sha256 of the model files' sha256s in name order, whose first 12 hex
 *   digits end metadata.model.version.
 * @property {function({data: Uint8Array|Uint8ClampedArray, width: number, height: number, channels: number}):
 *   Promise<Prediction>} classifyPixels RGB or RGBA bytes of any size, and optional clinical answers
 *   ({age, sex, site}: see metadata.js clinicalVector).
 * @property {function(ImageBitmap|HTMLCanvasElement|OffscreenCanvas, object=): Promise<Prediction>} classifyBitmap
 *   a decoded image, composited over metadata.preprocess.alpha_background, and optional clinical answers.
 */

/**
 * Loads the model and returns a classifier for it.
 *
 * @param {string} [baseUrl='model/'] folder holding metadata.json and the model files, relative to the page.
 * @param {object} [options]
 * @param {string[]} [options.backends=['wasm', 'webgl', 'cpu']] TensorFlow.js backends to try, in order.
 * @returns {Promise<Classifier>}
 * @throws {Error} if a file is missing, corrupt or altered, or metadata.json is not one this page implements.
 */
export async function load(baseUrl = 'model/', {backends = ['wasm', 'webgl', 'cpu']} = {}) {
  const base = new URL(baseUrl, globalThis.location.href);
  const metadata = await fetchMetadata(base);
  if (metadata.model.format !== 'tfjs-graph-model') {
    throw new Error(`metadata.json has model.format ${metadata.model.format}; this page loads tfjs-graph-model`);
  }
  checkPreprocessContract(metadata);
  checkScreeningContract(metadata);
  checkClinicalContract(metadata);

  const [backend, artifacts] = await Promise.all([selectBackend(backends), loadVerifiedArtifacts(base, metadata.model)]);
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const {classes, input, outputs, clinical} = metadata;
  // cam and feature_distance are optional: a model without them gets no heatmap and no distance check.
  const keys = ['probabilities', 'cam', 'feature_distance'].filter((key) => outputs[key]);
  /**
   * Every output the page uses, from one execution so that all come from the same pass; absent ones null.
   * A model with a clinical input gets `vector` (metadata.js clinicalVector), all missing when none is given.
   */
  const run = (batch, vector = null) => {
    const feeds = {[input.name]: batch};
    if (clinical) feeds[clinical.name] = tf.tensor2d([vector ?? clinicalVector({}, metadata).vector]);
    const result = model.execute(feeds, keys.map((key) => outputs[key]));
    const tensors = Array.isArray(result) ? result : [result]; // a lone tensor when one name is asked for
    const byKey = Object.fromEntries(keys.map((key, i) => [key, tensors[i]]));
    return {probabilities: byKey.probabilities, cam: byKey.cam ?? null, distance: byKey.feature_distance ?? null};
  };

  // Warm-up: the first run compiles kernels (WebGL shaders, wasm/XNNPACK setup).
  const warmUp = tf.tidy(() => run(tf.zeros([1, input.height, input.width, input.channels])));
  await warmUp.probabilities.data();
  const shapes = {probabilities: warmUp.probabilities.shape, cam: warmUp.cam?.shape,
    distance: warmUp.distance?.shape};
  tf.dispose(warmUp);
  if (shapes.probabilities.join() !== `1,${classes.length}`) {
    throw new Error(`the model outputs shape [${shapes.probabilities}] but metadata.json lists ${classes.length} classes`);
  }
  if (shapes.cam && (shapes.cam.length !== 4 || shapes.cam[3] !== classes.length)) {
    throw new Error(`the model's cam output has shape [${shapes.cam}], not [1, h, w, ${classes.length}]`);
  }
  if (shapes.distance && shapes.distance.join() !== '1') {
    throw new Error(`the model's feature_distance output has shape [${shapes.distance}], not [1]`);
  }

  /**
   * Classifies RGB or RGBA bytes of any size (RGBA's alpha ignored: classifyBitmap composites it).
   * `answers` ({age, sex, site}, any left out) go to a model with a clinical input; others ignore them.
   */
  async function classifyPixels(pixels, answers = {}) {
    const start = performance.now();
    const {vector, used} = clinical ? clinicalVector(answers, metadata) : {vector: null, used: []};
    const outputs = tf.tidy(() => {
      const x = preprocess(tf, rgbTensor(tf, pixels), metadata);
      return {...run(x, vector), blur: laplacianVariance(tf, x)};
    });
    const [values, cam, distance, blur] = await Promise.all(
      [outputs.probabilities, outputs.cam, outputs.distance, outputs.blur].map((t) => t?.data() ?? null));
    tf.dispose(outputs);
    const probabilities = Array.from(values);
    const best = decide(probabilities, metadata);
    const top = {id: classes[best].id, name: classes[best].name, probability: probabilities[best]};
    const [, h, w] = shapes.cam ?? [];
    const scope = assessScope({distance: distance?.[0] ?? null, blur: blur[0], topProbability: top.probability,
      minSide: Math.min(pixels.width, pixels.height)}, metadata);
    return {
      probabilities, top, logits: cam && spatialMean(cam, classes.length),
      cam: cam && {height: h, width: w, classes: classes.length, values: cam},
      triage: triage(probabilities, metadata, used), scope, clinicalUsed: used, ms: performance.now() - start,
    };
  }

  const fileHashes = Object.keys(metadata.model.files).sort().map((name) => metadata.model.files[name]);
  return {
    metadata,
    backend,
    backendDetail: await describeBackend(backend),
    modelSha256: await sha256Hex(fileHashes.join('')),
    classifyPixels,
    classifyBitmap: (source, answers = {}) =>
      classifyPixels(bitmapToPixels(source, metadata.preprocess.alpha_background), answers),
  };
}

/**
 * The self-test: classifies the golden images bundled with the model and compares with the probabilities
 * Python recorded for them in metadata.json.
 *
 * @param {Classifier} classifier
 * @param {number} [tolerance=SELF_TEST_TOLERANCE]
 * @returns {Promise<{passed: boolean, maxDifference: number|null, cases: number, tolerance: number,
 *   error: string|null}>} passed is false when any image differs by more than tolerance or could not be
 *   checked (error says why); with no golden images, passed is true and cases 0.
 */
export async function selfTest(classifier, tolerance = SELF_TEST_TOLERANCE) {
  const {metadata} = classifier;
  let maxDifference = null;
  try {
    for (const golden of metadata.golden ?? []) {
      const url = new URL(golden.file, globalThis.location.href);
      const response = await fetch(url, FETCH_OPTIONS);
      if (!response.ok) throw new Error(`could not download ${golden.file}: HTTP ${response.status}`);
      const bytes = await response.arrayBuffer();
      if (await sha256Hex(bytes) !== golden.sha256) throw new Error(`${golden.file} does not match its sha256`);
      const bitmap = await decodeImage(new Blob([bytes]), metadata.preprocess);
      const {probabilities} = await classifier.classifyBitmap(bitmap, golden.clinical ?? {});
      bitmap.close();
      const difference = Math.max(...probabilities.map((p, i) => Math.abs(p - golden.probabilities[i])));
      maxDifference = Math.max(maxDifference ?? 0, difference);
    }
  } catch (error) {
    return {passed: false, maxDifference, cases: metadata.golden?.length ?? 0, tolerance, error: error.message};
  }
  return {passed: maxDifference === null || maxDifference <= tolerance, maxDifference,
    cases: metadata.golden?.length ?? 0, tolerance, error: null};
}
