/**
 * A SkinLens inference worker: a dedicated module worker that pool.js starts for a batch, so that a
 * batch's photos use every core. It is loaded from this same-origin file (CSP `worker-src 'self'`: no
 * blob: and no cross-origin isolation needed, so it runs as it is on GitHub Pages and offline, where the
 * service worker serves it and the model like any other file).
 *
 * It loads the page's model through the same load() (every file checked against metadata.json) on the
 * page's backend, runs the self-test on the first golden image (WORKER_SELF_TEST_IMAGES), and then classifies
 * decoded pixels the page sends it through the same classify(). Photos are decoded by the page (which shows
 * them), so the decode rules are the page's; only pixels and answers come in, only results go out, and
 * nothing leaves the browser.
 *
 * Messages in: {type: 'load', source, backend}, then {type: 'classify', id, pixels, answers}.
 * Messages out: {type: 'loaded', digest, selfTest} or {type: 'loaded', error}, and
 * {type: 'result', id, result} or {type: 'result', id, error: {name, code, message}}.
 */
import './vendor/tfjs/tf-core.min.js';
import './vendor/tfjs/tf-backend-cpu.min.js';
import './vendor/tfjs/tf-backend-wasm.min.js';
import './vendor/tfjs/tf-converter.min.js';
import {load} from './skinlens.js';

let model = null;

/**
 * The golden images the worker's self-test classifies. The page has already checked every golden image (its
 * decoding and this browser's arithmetic) before it starts a worker; the worker decodes no photo of the
 * user's, so what is left to check is its own copy of the model on the same backend: one golden image runs
 * every operation of the graph, all its views included. Checking all of them again cost the first worker
 * about 2 s more of a core here (4 images × 8 views), while the person waits to choose a photo.
 */
const WORKER_SELF_TEST_IMAGES = 1;

// A refusal by the worker's own CSP (server.py sends it one) is said on the console, where the page's are.
self.addEventListener('securitypolicyviolation', (event) => {
  console.error(`SkinLens worker: CSP ${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
});

function fault(error) {
  return {name: error.name ?? 'Error', code: error.code ?? null, message: error.message ?? String(error)};
}

self.onmessage = async ({data}) => {
  if (data.type === 'load') {
    try {
      model = await load(data.source, {backends: [data.backend]});
      const selfTest = await model.selfTest(undefined, {images: WORKER_SELF_TEST_IMAGES});
      self.postMessage({type: 'loaded', digest: model.digest, selfTest});
    } catch (error) {
      self.postMessage({type: 'loaded', error: fault(error)});
    }
  } else if (data.type === 'classify') {
    try {
      const result = await model.classify(data.pixels, data.answers);
      self.postMessage({type: 'result', id: data.id, result}); // copied: small, and not ours to detach
    } catch (error) {
      self.postMessage({type: 'result', id: data.id, error: fault(error)});
    }
  }
};
