/**
 * Loads the SkinLens model described by model/metadata.json and classifies pixels with it.
 *
 *   const classifier = await load();               // or load('model/', {backends: ['cpu']})
 *   const {probabilities, top, ms} = await classifier.classifyBitmap(bitmap);
 *
 * Every model file is checked against the sha256 listed in metadata.json before it is used.
 * Needs the global `tf` from the vendored UMD bundles (core, backends, converter). No DOM access.
 */
import {bitmapToPixels, checkPreprocessContract, preprocess, rgbTensor} from './imaging.js';

const tf = globalThis.tf;

/** Resolved from this module's URL, so it holds wherever the site is served (e.g. a /skinlens/ sub-path). */
const WASM_PATH = new URL('vendor/tfjs/', import.meta.url).href;

/** Revalidate with the server: a model file cached from an older release would fail its checksum. */
const FETCH_OPTIONS = {cache: 'no-cache'};

async function fetchBytes(url) {
  const response = await fetch(url, FETCH_OPTIONS);
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

async function sha256Hex(buffer) {
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

/**
 * @typedef {object} Prediction
 * @property {number[]} probabilities one per class, in metadata.classes order.
 * @property {{id: string, name: string, probability: number}} top the most probable class.
 * @property {number} ms time taken, in milliseconds.
 */

/**
 * @typedef {object} Classifier
 * @property {object} metadata the model's metadata.json.
 * @property {string} backend the TensorFlow.js backend in use.
 * @property {function({data: Uint8Array|Uint8ClampedArray, width: number, height: number, channels: number}):
 *   Promise<Prediction>} classifyPixels RGB or RGBA bytes of any size.
 * @property {function(ImageBitmap|HTMLCanvasElement|OffscreenCanvas): Promise<Prediction>} classifyBitmap
 *   a decoded image, composited over metadata.preprocess.alpha_background.
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
  const metadata = JSON.parse(new TextDecoder().decode(await fetchBytes(new URL('metadata.json', base))));
  if (metadata.schema_version !== 1) {
    throw new Error(`metadata.json has schema_version ${metadata.schema_version}; this page reads version 1`);
  }
  if (metadata.model.format !== 'tfjs-graph-model') {
    throw new Error(`metadata.json has model.format ${metadata.model.format}; this page loads tfjs-graph-model`);
  }
  checkPreprocessContract(metadata);

  const [backend, artifacts] = await Promise.all([selectBackend(backends), loadVerifiedArtifacts(base, metadata.model)]);
  const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const {classes, input, outputs} = metadata;
  const run = (batch) => model.execute({[input.name]: batch}, outputs.probabilities);

  // Warm-up: the first run compiles kernels (WebGL shaders, wasm/XNNPACK setup).
  const warmUp = tf.tidy(() => run(tf.zeros([1, input.height, input.width, input.channels])));
  await warmUp.data();
  warmUp.dispose();
  if (warmUp.shape.join() !== `1,${classes.length}`) {
    throw new Error(`the model outputs shape [${warmUp.shape}] but metadata.json lists ${classes.length} classes`);
  }

  /** Classifies RGB or RGBA bytes of any size (RGBA's alpha ignored: classifyBitmap composites it). */
  async function classifyPixels(pixels) {
    const start = performance.now();
    const output = tf.tidy(() => run(preprocess(tf, rgbTensor(tf, pixels), metadata)));
    const probabilities = Array.from(await output.data());
    output.dispose();
    const best = probabilities.indexOf(Math.max(...probabilities));
    const top = {id: classes[best].id, name: classes[best].name, probability: probabilities[best]};
    return {probabilities, top, ms: performance.now() - start};
  }

  return {
    metadata,
    backend,
    classifyPixels,
    classifyBitmap: (source) => classifyPixels(bitmapToPixels(source, metadata.preprocess.alpha_background)),
  };
}
