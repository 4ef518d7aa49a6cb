/**
 * SkinLens in a web page: load the model, classify photos, entirely in this browser.
 *
 *   import {load} from './skinlens.js';
 *   const model = await load('model/');                     // checks every file, warms up
 *   const mine = await load(input.files);                   // or a model folder the user chose, read here
 *   const result = await model.classify(file, {age: 70, sex: 'male', site: 'back'}); // answers optional
 *   result.top.name; result.band; result.warnings;          // see Result below
 *
 * `image` is a File or Blob (decoded as the Python trainer decodes: EXIF orientation, no colour
 * conversion, alpha over metadata.preprocess.alpha_background), an ImageBitmap or canvas, or raw pixels
 * ({data, width, height, channels: 3|4}, e.g. an ImageData). Bad input rejects with an ImageError whose
 * `message` is for a person and `code` for a program (errors.js); a model folder that is incomplete,
 * altered or not this page's kind rejects load() with a SkinLensError. Nothing is stored or sent: a model
 * folder chosen from disk is read in the page and checked exactly as a served one is.
 *
 * Needs the global `tf` of the vendored TensorFlow.js bundles (core, backends, converter), loaded by
 * <script> tags before this module. No DOM access.
 */
import {ImageError, SkinLensError} from './errors.js';
import {readCounting} from './progress.js';
import {bitmapToPixels, decodeImage, preprocess, rgbTensor} from './imaging.js';
import {assessScope, clinicalVector, contentDigest, decide, readMetadata,
  pictureKindOf, sha256Hex, triage} from './metadata.js';

export {ImageError, SkinLensError};

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

/**
 * Where a model's files come from, each as a Response: a folder URL, every file downloaded; or files the
 * user chose (a FileList or array, e.g. from <input type=file webkitdirectory>), every file read in this
 * page and never sent. One reader for both, so that a chosen model is checked exactly as a served one.
 *
 * @param {string|URL|FileList|File[]} from
 * @returns {{model: function(string): Promise<Response>, golden: function(string): Promise<Response|null>}}
 *   model(name) a file of the model folder, or rejects (download-failed); golden(path) a golden image by
 *   its metadata.golden path, or null when it is not among the chosen files (a served one must exist).
 */
function modelSource(from) {
  if (typeof from === 'string' || from instanceof URL) {
    const base = new URL(from, globalThis.location.href);
    const webRoot = new URL('../', base); // the converter puts golden/ beside model/
    const get = async (url) => {
      const response = await fetch(url, FETCH_OPTIONS);
      if (!response.ok) throw new SkinLensError('download-failed', `could not download ${url}: HTTP ${response.status}`);
      return response;
    };
    return {model: (name) => get(new URL(name, base)), golden: (path) => get(new URL(path, webRoot))};
  }
  const files = Array.from(from);
  return {
    model: async (name) => {
      const file = chosenFile(files, name);
      if (!file) {
        throw new SkinLensError('download-failed', `model file ${name} is not among the chosen files ` +
          '(choose the whole folder the converter wrote, or all of its files)');
      }
      return new Response(file);
    },
    golden: async (path) => {
      const file = chosenFile(files, path);
      return file && new Response(file);
    },
  };
}

/**
 * The chosen file for `path` (e.g. 'model.json', 'golden/a.jpg'): by its path inside a chosen folder,
 * else by its name alone (files chosen one by one have no folder); null when there is none.
 */
function chosenFile(files, path) {
  const name = path.split('/').pop();
  const inFolder = files.filter((file) => file.webkitRelativePath && `/${file.webkitRelativePath}`.endsWith(`/${path}`));
  const found = inFolder.length ? inFolder : files.filter((file) => file.name === name);
  if (found.length > 1) {
    throw new SkinLensError('download-failed', `${found.length} of the chosen files are called ${name}: ` +
      'choose one model folder');
  }
  return found[0] ?? null;
}

/** A response's bytes; `onBytes(n)`, when given, hears of each chunk as it arrives (progress.js). */
function readBytes(response, onBytes = null) {
  return onBytes ? readCounting(response, onBytes) : response.arrayBuffer();
}

/** Reads one model file from `source` and checks it against metadata.model.files. */
async function readVerified(source, name, expectedHashes, onBytes) {
  const expected = expectedHashes[name];
  if (expected === undefined) throw new SkinLensError('file-altered', `model file ${name} has no checksum in metadata.json`);
  const bytes = await readBytes(await source.model(name), onBytes);
  if (await sha256Hex(bytes) !== expected.toLowerCase()) {
    throw new SkinLensError('file-altered', `model file ${name} is corrupt or altered (its sha256 does not match metadata.json)`);
  }
  return bytes;
}

/**
 * Reads model.json and its weight shards, checks each, and returns tfjs model artifacts.
 * `onProgress({loaded, total})` hears of every chunk: bytes received of model.total_bytes (the size of
 * exactly these files, which their checksums pin).
 */
async function loadVerifiedArtifacts(source, model, onProgress) {
  let loaded = 0;
  const onBytes = (n) => {
    loaded += n;
    onProgress({loaded, total: model.total_bytes});
  };
  const modelJson = JSON.parse(new TextDecoder().decode(
    await readVerified(source, model.model_json, model.files, onBytes)));
  const shardNames = modelJson.weightsManifest.flatMap((group) => group.paths);
  const shards = await Promise.all(shardNames.map((name) => readVerified(source, name, model.files, onBytes)));
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
  throw new SkinLensError('no-backend', `no TensorFlow.js backend works in this browser (${failures.join('; ')})`);
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
 * The too-dark signal of one input, as a scalar tensor; call inside tf.tidy: the mean of its luminance
 * (trainer/scope.py's `brightness`).
 *
 * @param {object} tf the TensorFlow.js namespace.
 * @param {tf.Tensor4D} input [1, H, W, 3] float32 model input in 0–255.
 * @returns {tf.Scalar}
 */
function meanLuminance(tf, input) {
  return tf.mean(tf.sum(tf.mul(input, tf.tensor1d(LUMA)), -1));
}

/**
 * @typedef {object} Result what model.classify resolves to.
 * @property {{id: string, name: string, probability: number}[]} classes every class, in metadata.classes order.
 * @property {{id: string, name: string, probability: number}} top the type shown (metadata.js decide: the
 *   most probable class after the validated class weights).
 * @property {number|null} risk the summed probability of the malignant classes; null when the model has no
 *   screening threshold (as are band and threshold).
 * @property {'higher'|'lower'|null} band 'higher' concern when risk ≥ threshold.
 * @property {number|null} threshold the validated threshold used: the picture kind's, where the model tells kinds
 *   apart, and the photo-only one when no clinical answer was given to a model that takes them.
 * @property {{id: string, name: string, probability: number}|null} pictureKind the kind of picture the model
 *   judged this to be (metadata.picture_kinds; probability = its picture_kind output, P(ordinary photo));
 *   null for a model that does not tell kinds apart.
 * @property {boolean} fewCancers the kind's figures rest on few validation cancers (the card errs toward a doctor).
 * @property {{code: string, message: string}[]} warnings why the photo may be outside what the model knows
 *   (codes not-a-lesion, distance, blur, dark, confidence, size); empty when it looks in scope.
 * @property {{height: number, width: number, classes: number, values: Float32Array}|null} cam the activation
 *   maps, [h, w, classes] row-major, in logit units; null when the model has none.
 * @property {string[]} clinicalUsed the clinical answers used (e.g. ['age', 'site']); empty when none.
 * @property {{outOfScope: number|null, distance: number|null, blur: number, brightness: number, minSide: number,
 *   pictureKind: number|null, logits: number[]|null}}
 *   signals what the warnings were judged from, and the image's logits (before any clinical offset and the
 *   calibration), for comparison with Python; null where the model lacks that output.
 * @property {{decodeMs: number, modelMs: number}} timing decodeMs is 0 for an image given already decoded.
 */

/**
 * @typedef {object} Model what load resolves to.
 * @property {object} metadata the model's metadata.json, checked.
 * @property {string} version metadata.model.version, which ends in the start of `digest`.
 * @property {string} digest sha256 of everything metadata.json says (metadata.js contentDigest).
 * @property {string} backend the TensorFlow.js backend in use, e.g. 'wasm'.
 * @property {string} backendDetail the backend in words, e.g. 'wasm (SIMD, single thread)'.
 * @property {function(Blob|ImageBitmap|HTMLCanvasElement|OffscreenCanvas|ImageData|object, object=):
 *   Promise<Result>} classify an image and optional clinical answers ({age, sex, site}, any left out).
 * @property {function(Blob): Promise<ImageBitmap>} decode a file decoded as classify decodes it (oriented,
 *   size-checked), for showing it; classify accepts the bitmap; the caller closes it.
 * @property {function(number=, {images: number}=): Promise<SelfTest>} selfTest classifies the golden images
 *   bundled with the model (all of them, or the first `images`), through classify, and compares with the
 *   probabilities Python recorded; `tolerance` (first argument) defaults to SELF_TEST_TOLERANCE.
 * @property {string|File[]} source what it was loaded from: the folder's absolute URL, or the chosen files;
 *   load(model.source) loads the same model again (pool.js does, in each worker).
 * @property {function(): void} dispose frees the model's weights; the model cannot classify afterwards.
 */

/**
 * @typedef {object} SelfTest
 * @property {boolean} passed false when any golden image differs by more than tolerance or could not be
 *   checked (error says why); true with no golden images (cases 0) or none chosen (notChosen = cases).
 * @property {number|null} maxDifference the largest |Δp| over the golden images.
 * @property {boolean} goldenDamaged a golden image is not the file metadata.json names (its sha256 differs): the
 *   fault is the model folder's, not this browser's, and the browser could not be checked.
 * @property {number} cases the golden cases in metadata.json.
 * @property {number} checked of those, the cases compared with Python's probabilities.
 * @property {number} notChosen of those, the cases whose image was not among the files of a chosen model
 *   (a researcher's folder usually has no golden/ beside it), so not checked; always 0 for a served model,
 *   whose golden images must all be there.
 * @property {number} tolerance
 * @property {string|null} error
 */

/** Whether `image` is raw pixels: {data, width, height, channels?} (an ImageData has no channels: 4). */
function isPixels(image) {
  return image?.data !== undefined && Number.isInteger(image.width) && Number.isInteger(image.height);
}

/**
 * Loads the model and returns it, ready: every file checked against metadata.json, metadata.json
 * against its version, the backend chosen and warmed up.
 *
 * @param {string|URL|FileList|File[]} [from='model/'] the folder of metadata.json and the model files, as a URL
 *   relative to the page; or the files of such a folder chosen by the user (found by name; golden images
 *   chosen with them are found by their metadata.golden path), read in this page and never sent.
 * @param {object} [options]
 * @param {string[]} [options.backends=['wasm', 'webgl', 'cpu']] TensorFlow.js backends to try, in order.
 * @param {function({loaded: number, total: number}): void} [options.onProgress] hears of the model download
 *   as it arrives: bytes received of metadata.model.total_bytes (also when the service worker serves them).
 * @returns {Promise<Model>}
 * @throws {SkinLensError} when a file is missing, corrupt or altered, or the model is not one this page runs.
 */
export async function load(from = 'model/', {backends = ['wasm', 'webgl', 'cpu'], onProgress = () => {}} = {}) {
  const source = modelSource(from);
  // The backend starts (for wasm: its binary downloaded and compiled) while metadata.json and the model
  // download. Its failure is awaited below; the catch only keeps it from being reported as unhandled when
  // metadata.json is refused first.
  const backendStarted = selectBackend(backends);
  backendStarted.catch(() => {});
  // A refusal waits for the backend's start to end, so that no request is still under way once load
  // has said why it failed.
  let metadata;
  try {
    // Every field it reads, checked at once (metadata.js checkMetadata, as `trainer predict` checks it).
    metadata = await readMetadata(await (await source.model('metadata.json')).text());
  } catch (error) {
    await backendStarted.catch(() => {});
    throw error;
  }

  const [started, read] = await Promise.allSettled(
    [backendStarted, loadVerifiedArtifacts(source, metadata.model, onProgress)]);
  if (read.status === 'rejected') throw read.reason; // a file's fault says more than a backend's
  if (started.status === 'rejected') throw started.reason;
  const [backend, artifacts] = [started.value, read.value];
  const graph = await tf.loadGraphModel(tf.io.fromMemory(artifacts));
  const {classes, input, outputs, clinical} = metadata;
  // Only probabilities are required: a model without cam gets no heatmap, without out_of_scope or
  // feature_distance no such check.
  const keys = ['probabilities', 'logits', 'cam', 'feature_distance', 'out_of_scope', 'picture_kind']
    .filter((key) => outputs[key]);
  /**
   * Every output the page uses, from one execution so that all come from the same pass; absent ones null.
   * A model with a clinical input gets `vector` (metadata.js clinicalVector), all missing when none is given.
   */
  const run = (batch, vector = null) => {
    const feeds = {[input.name]: batch};
    if (clinical) feeds[clinical.name] = tf.tensor2d([vector ?? clinicalVector({}, metadata).vector]);
    const result = graph.execute(feeds, keys.map((key) => outputs[key]));
    const tensors = Array.isArray(result) ? result : [result]; // a lone tensor when one name is asked for
    const byKey = Object.fromEntries(keys.map((key, i) => [key, tensors[i]]));
    return {probabilities: byKey.probabilities, logits: byKey.logits ?? null, cam: byKey.cam ?? null,
      distance: byKey.feature_distance ?? null, outOfScope: byKey.out_of_scope ?? null,
      pictureKind: byKey.picture_kind ?? null};
  };

  // Warm-up: the first run compiles kernels (WebGL shaders, wasm/XNNPACK setup).
  const warmUp = tf.tidy(() => run(tf.zeros([1, input.height, input.width, input.channels])));
  await warmUp.probabilities.data();
  const shapes = {probabilities: warmUp.probabilities.shape, logits: warmUp.logits?.shape, cam: warmUp.cam?.shape,
    distance: warmUp.distance?.shape, outOfScope: warmUp.outOfScope?.shape, pictureKind: warmUp.pictureKind?.shape};
  tf.dispose(warmUp);
  const mismatch = (what) => new SkinLensError('model-mismatch', what);
  if (shapes.probabilities.join() !== `1,${classes.length}`) {
    throw mismatch(`the model outputs ${shapes.probabilities.at(-1)} probabilities but metadata.json lists ` +
      `${classes.length} classes`);
  }
  if (shapes.cam && (shapes.cam.length !== 4 || shapes.cam[3] !== classes.length)) {
    throw mismatch(`the model's cam output has shape [${shapes.cam}], not [1, h, w, ${classes.length}]`);
  }
  if (shapes.logits && shapes.logits.join() !== `1,${classes.length}`) {
    throw mismatch(`the model's logits output has shape [${shapes.logits}], not [1, ${classes.length}]`);
  }
  for (const [key, name] of [['distance', 'feature_distance'], ['outOfScope', 'out_of_scope'],
    ['pictureKind', 'picture_kind']]) {
    if (shapes[key] && shapes[key].join() !== '1') {
      throw mismatch(`the model's ${name} output has shape [${shapes[key]}], not [1]`);
    }
  }

  /** The model on RGB or RGBA bytes of any size (alpha ignored: bitmapToPixels has composited it). */
  async function classifyPixels(pixels, answers) {
    const {vector, used} = clinical ? clinicalVector(answers, metadata) : {vector: null, used: []};
    const out = tf.tidy(() => {
      const x = preprocess(tf, rgbTensor(tf, pixels), metadata);
      return {...run(x, vector), blur: laplacianVariance(tf, x), brightness: meanLuminance(tf, x)};
    });
    const [values, logits, cam, distance, outOfScope, photo, blur, brightness] = await Promise.all(
      [out.probabilities, out.logits, out.cam, out.distance, out.outOfScope, out.pictureKind, out.blur,
        out.brightness].map((t) => t?.data() ?? null));
    tf.dispose(out);
    const probabilities = Array.from(values);
    const best = decide(probabilities, metadata);
    const minSide = Math.min(pixels.width, pixels.height);
    const scope = assessScope({outOfScope: outOfScope?.[0] ?? null, distance: distance?.[0] ?? null, blur: blur[0],
      brightness: brightness[0], topProbability: probabilities[best], minSide}, metadata);
    const pictureKind = pictureKindOf(photo?.[0] ?? null, metadata);
    const screening = triage(probabilities, metadata, used, pictureKind?.id ?? null);
    const [, h, w] = shapes.cam ?? [];
    const named = classes.map((cls, i) => ({id: cls.id, name: cls.name, probability: probabilities[i]}));
    return {
      classes: named, top: named[best],
      risk: screening?.risk ?? null, band: screening?.band ?? null, threshold: screening?.threshold ?? null,
      pictureKind, fewCancers: Boolean(screening?.fewCancers),
      warnings: scope.reasons.map(({check, message}) => ({code: check, message})),
      cam: cam && {height: h, width: w, classes: classes.length, values: cam},
      clinicalUsed: used,
      signals: {outOfScope: scope.outOfScope, distance: scope.distance, blur: scope.blur,
        brightness: scope.brightness, pictureKind: photo?.[0] ?? null, minSide,
        logits: logits && Array.from(logits)},
    };
  }

  const decode = (blob) => decodeImage(blob, metadata.preprocess);

  /**
   * Classifies one image: see Result. Rejects with an ImageError for a file that cannot be read or an
   * answer the model does not know.
   */
  async function classify(image, answers = {}) {
    const start = performance.now();
    let bitmap = null;
    if (image instanceof Blob) bitmap = await decode(image);
    const decoded = performance.now();
    try {
      const pixels = isPixels(image) ?
        {data: image.data, width: image.width, height: image.height, channels: image.channels ?? 4} :
        bitmapToPixels(bitmap ?? image, metadata.preprocess.alpha_background);
      const result = await classifyPixels(pixels, answers);
      return {...result, timing: {decodeMs: decoded - start, modelMs: performance.now() - decoded}};
    } finally {
      bitmap?.close();
    }
  }

  /** The golden images through classify, as a user's files go. */
  async function selfTest(tolerance = SELF_TEST_TOLERANCE, {images = Infinity} = {}) {
    let maxDifference = null;
    let notChosen = 0;
    let checked = 0;
    const cases = metadata.golden?.length ?? 0;
    try {
      for (const golden of (metadata.golden ?? []).slice(0, images)) {
        const response = await source.golden(golden.file);
        if (response === null) {
          notChosen += 1;
          continue;
        }
        const bytes = await readBytes(response);
        if (await sha256Hex(bytes) !== golden.sha256) {
          throw new SkinLensError('golden-damaged', `the reference image ${golden.file} is damaged: its sha256 ` +
            'does not match metadata.json');
        }
        const result = await classify(new Blob([bytes]), golden.clinical ?? {});
        const difference = Math.max(...result.classes.map((c, i) => Math.abs(c.probability - golden.probabilities[i])));
        maxDifference = Math.max(maxDifference ?? 0, difference);
        checked += 1;
      }
    } catch (error) {
      // A reference image that is not the one the converter recorded says nothing about this browser.
      return {passed: false, maxDifference, cases, checked, notChosen, tolerance, error: error.message,
        goldenDamaged: error.code === 'golden-damaged'};
    }
    return {passed: maxDifference === null || maxDifference <= tolerance, maxDifference, cases, checked, notChosen,
      tolerance, error: null, goldenDamaged: false};
  }

  return {
    metadata,
    version: metadata.model.version,
    digest: await contentDigest(metadata),
    backend,
    backendDetail: await describeBackend(backend),
    classify,
    decode,
    selfTest,
    source: typeof from === 'string' || from instanceof URL ? new URL(from, globalThis.location.href).href :
      Array.from(from),
    dispose: () => graph.dispose(),
  };
}
