/**
 * SkinLens service worker: after one visit, the app works with the network off.
 *
 * main.js registers it as `sw.js?model=<metadata.model.version>` with scope './', so it works at any
 * sub-path, and a new model (whose version ends in a hash of its files) installs a new worker with a new
 * cache. On install it precaches the app files below, TensorFlow.js with its wasm files, and the model's
 * files and golden images as listed in model/metadata.json; on activate it deletes every other cache.
 *
 * Fetches are network first, the cache only when the network fails: an online visit always gets the
 * current release, and the page's sha256 check still guards every model file. Only the precached
 * same-origin GETs are ever answered from the cache, and nothing is added to it after install: photos
 * are read from disk by the page and never fetched, so they can never be cached.
 */

/** The app's own files, relative to this script. Every file of web/ that the page loads is listed. */
const APP_FILES = [
  './',
  'index.html',
  'model-card.html',
  'style.css',
  'main.js',
  'ui.js',
  'classifier.js',
  'imaging.js',
  'metadata.js',
  'heatmap.js',
  'csv.js',
  'model-card.js',
  'vendor/tfjs/tf-core.min.js',
  'vendor/tfjs/tf-backend-cpu.min.js',
  'vendor/tfjs/tf-backend-webgl.min.js',
  'vendor/tfjs/tf-backend-wasm.min.js',
  'vendor/tfjs/tf-converter.min.js',
  // The single-threaded builds: the page never runs the threaded one (see classifier.js).
  'vendor/tfjs/tfjs-backend-wasm.wasm',
  'vendor/tfjs/tfjs-backend-wasm-simd.wasm',
  'vendor/tfjs/LICENSE',
];

const MODEL_VERSION = new URL(self.location.href).searchParams.get('model') ?? 'unversioned';
const CACHE_PREFIX = 'skinlens-';
const CACHE = `${CACHE_PREFIX}${MODEL_VERSION}`;

/** Every URL to precache: the app files, then metadata.json and what it lists. */
async function precacheUrls() {
  const response = await fetch('model/metadata.json', {cache: 'no-cache'});
  if (!response.ok) throw new Error(`model/metadata.json: HTTP ${response.status}`);
  const metadata = JSON.parse(await response.text());
  const modelFiles = Object.keys(metadata.model.files).map((name) => `model/${name}`);
  const golden = (metadata.golden ?? []).map((g) => g.file);
  return [...new Set([...APP_FILES, 'model/metadata.json', ...modelFiles, ...golden])];
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const urls = await precacheUrls();
    const cache = await caches.open(CACHE);
    // no-cache: revalidate with the server rather than copy a stale HTTP-cached file into the precache.
    await cache.addAll(urls.map((url) => new Request(url, {cache: 'no-cache'})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((name) => name.startsWith(CACHE_PREFIX) && name !== CACHE)
      .map((name) => caches.delete(name)));
    // Control the page that registered us now, so that it works offline without a reload.
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const {request} = event;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    try {
      return await fetch(request);
    } catch (error) {
      const cache = await caches.open(CACHE);
      // ignoreSearch: `?backend=cpu` is the same page.
      const cached = await cache.match(request, {ignoreSearch: request.mode === 'navigate'});
      if (cached) return cached;
      throw error;
    }
  })());
});
