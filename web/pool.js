/**
 * A batch on every core: the page's own model and dedicated inference workers (inference-worker.js), each
 * taking the batch's next photo as soon as it is free.
 *
 *   const pool = startPool(model, threadCount(location.search) - 1); // workers load and self-test the model
 *   await runQueue(files, [pageThread, ...pool.workers], async (file, thread) => { ... thread.classify(pixels) });
 *
 * Why workers and not TensorFlow.js's threaded WebAssembly: the workers are same-origin module files, so
 * the CSP stays as it is (`worker-src 'self'`, no `blob:` in `script-src`), no cross-origin isolation is
 * needed (GitHub Pages serves them as it is), and the service worker serves them offline; see "Speed" in
 * the README for what each was measured to give.
 *
 * One worker starts once the page's model has passed its self-test (main.js), so that a single photo is
 * classified off the page's thread and the page never freezes; the others start for a batch of at least
 * MIN_BATCH photos (a smaller one would be done before they had loaded) and then stay for later batches of
 * the same model. A worker that fails to load, fails the self-test, loads other files than the page's
 * model (digest) or breaks later is dropped, and its photo goes back to the queue: the page's own thread
 * never leaves it, so a batch always ends (and a single photo whose worker broke is classified there).
 */
import {ImageError} from './errors.js';

/** At most this many threads for a batch (the page and MAX_THREADS - 1 workers): each holds a model. */
export const MAX_THREADS = 4;
/**
 * The workers beyond the first start for a batch of at least this many photos, and stay for the next
 * batches. A worker took 2.6–2.7 s to load and self-test on every golden image beside the page's work on 2
 * cores, about 8 photos' time, so the first batch gained little; it now checks the first one only
 * (inference-worker.js), ready about 1 s after the page's self-test on an idle machine. A person checking one
 * or two spots pays for one worker only, the one that keeps the page responsive.
 */
export const MIN_BATCH = 4;

/** A worker that cannot go on; its photo is given to another thread. */
export class WorkerFailure extends Error {
  constructor(message) {
    super(message);
    this.name = 'WorkerFailure';
  }
}

/**
 * How many threads to classify a batch with: `?threads=N` in the page's query when given (1 to 8, for
 * comparing), else the browser's logical cores up to MAX_THREADS.
 *
 * @param {string} query the page's location.search.
 * @param {number} [cores] navigator.hardwareConcurrency.
 * @returns {number} at least 1.
 */
export function threadCount(query, cores = globalThis.navigator?.hardwareConcurrency) {
  const requested = Number(new URLSearchParams(query).get('threads'));
  if (Number.isInteger(requested) && requested >= 1 && requested <= 8) return requested;
  return Math.max(1, Math.min(cores || 1, MAX_THREADS));
}

/**
 * Starts `count` workers, each loading `model` again from model.source on model.backend.
 *
 * @param {object} model a skinlens.js Model, in use on the page.
 * @param {number} count
 * @returns {{model: object, workers: object[], grow: function(number): object[], dispose: function(): void}}
 *   workers: see startWorker, broken ones included; grow(total) starts workers up to `total` in all (a
 *   broken one still counts: it is not replaced) and returns those it started.
 */
export function startPool(model, count) {
  const workers = [];
  const grow = (total) => {
    const started = [];
    while (workers.length < total) {
      started.push(startWorker(model, `worker ${workers.length + 1}`));
      workers.push(started.at(-1));
    }
    return started;
  };
  grow(count);
  return {model, workers, grow, dispose: () => workers.forEach((worker) => worker.terminate())};
}

/**
 * One inference worker.
 *
 * @returns {{name: string, ready: Promise<boolean>, loaded: boolean, broken: boolean, depth: number,
 *   classify: function(object, object): Promise<object>, terminate: function(): void}}
 *   ready resolves true (and loaded is set) once the worker's model passed its self-test, false when the
 *   worker is not used (broken is set, also when it breaks later); depth: photos it is sent at a time;
 *   classify(pixels, answers) takes RGBA pixels (their buffer is transferred, so the caller loses it) and
 *   resolves to a skinlens.js Result, or rejects with an ImageError (the photo's fault) or a WorkerFailure.
 */
function startWorker(model, name) {
  const worker = new Worker(new URL('inference-worker.js', import.meta.url), {type: 'module', name});
  const pending = new Map();
  let nextId = 0;
  let settleReady;
  // depth 2: the page decodes and sends a worker its next photo while the worker works on one, so that the
  // worker does not wait while the page's own thread is busy classifying.
  const thread = {name, ready: new Promise((resolve) => { settleReady = resolve; }), loaded: false, broken: false,
    depth: 2};
  /** Ends the worker: said on the console when it broke (`why`), not when the pool is disposed (null). */
  const stop = (why) => {
    if (why && !thread.broken) console.warn(`SkinLens ${name} not used: ${why}`);
    thread.broken = true;
    settleReady(false);
    worker.terminate();
    for (const {reject} of pending.values()) reject(new WorkerFailure(`${name}: ${why ?? 'stopped'}`));
    pending.clear();
  };
  worker.onerror = (event) => {
    event.preventDefault();
    stop(event.message || 'the worker script could not run');
  };
  worker.onmessageerror = () => stop('a message could not be read');
  worker.onmessage = ({data}) => {
    if (data.type === 'loaded') {
      if (data.error) stop(`its model could not be loaded (${data.error.message})`);
      else if (data.digest !== model.digest) stop('it loaded another model than the page');
      else if (!data.selfTest.passed) stop(`it failed the self-test (${data.selfTest.error ?? data.selfTest.maxDifference})`);
      else {
        thread.loaded = true;
        settleReady(true);
      }
    } else if (data.type === 'result') {
      const job = pending.get(data.id);
      if (data.error && data.error.name !== 'ImageError') {
        stop(`it could not classify a photo (${data.error.message})`); // rejects this job too
        return;
      }
      pending.delete(data.id);
      if (data.error) job?.reject(new ImageError(data.error.code, data.error.message));
      else job?.resolve(data.result);
    }
  };
  worker.postMessage({type: 'load', source: model.source, backend: model.backend});
  thread.classify = (pixels, answers) => new Promise((resolve, reject) => {
    if (thread.broken) {
      reject(new WorkerFailure(`${name} is not in use`));
      return;
    }
    const id = nextId++;
    pending.set(id, {resolve, reject});
    worker.postMessage({type: 'classify', id, pixels, answers}, [pixels.data.buffer]);
  });
  thread.terminate = () => stop(null);
  return thread;
}

/**
 * Calls `work(item, thread)` for every item, each thread taking the next item as soon as it is free.
 * threads[0] (the page's) starts at once; the others join when their `ready` resolves true, each with
 * `depth` items at a time (a worker's next photo is decoded and sent while it works on one). When `work`
 * rejects with a WorkerFailure, that thread stops and its item goes back to the queue; any other
 * rejection is a bug, and rejects the whole.
 *
 * @param {Array} items
 * @param {{ready: Promise<boolean>, depth: number|undefined}[]} threads threads[0] must never fail.
 * @param {function(*, object): Promise<void>} work
 */
export async function runQueue(items, threads, work) {
  const queue = [...items];
  const running = new Set();
  const drain = async (thread) => {
    while (queue.length) {
      const item = queue.shift();
      try {
        await work(item, thread);
      } catch (error) {
        if (!(error instanceof WorkerFailure)) throw error;
        queue.unshift(item);
        return;
      }
    }
  };
  for (const thread of threads.slice(1)) {
    thread.ready.then((ok) => {
      for (let i = 0; ok && i < (thread.depth ?? 1) && queue.length; i++) {
        const drained = drain(thread).finally(() => running.delete(drained));
        running.add(drained);
      }
    });
  }
  while (queue.length || running.size) {
    await drain(threads[0]);
    await Promise.all([...running]);
  }
}
