/**
 * SkinLens service worker: after one visit, the app works with the network off.
 *
 * main.js registers it as `sw.js?release=<precache.json's release>` with scope './', so it works at any
 * sub-path, and any changed file of the app or its model (a new release: converter/precache.py) installs
 * a new worker. On install it downloads every file precache.json lists and checks each against its
 * sha256; a file that is missing or does not match fails the install (the page is told which: reportFailure),
 * and the previous worker keeps
 * serving the previous release, complete. Only a complete copy is activated, and then every other copy
 * is deleted: offline, a user gets the last complete release, never a mix of two.
 *
 * Fetches are network first, revalidated with the server whatever the HTTP cache holds, the cache only
 * when the network fails: an online visit always gets the current release (and, through main.js, its
 * worker). Only the precached same-origin GETs are ever
 * answered from the cache, and nothing is added to it after install: photos are read from disk by the
 * page and never fetched, so they can never be cached.
 */

const RELEASE = new URL(self.location.href).searchParams.get('release') ?? 'unversioned';
const CACHE_PREFIX = 'skinlens-';
const CACHE = `${CACHE_PREFIX}${RELEASE}`;

async function sha256Hex(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** An install that cannot finish; `reason` is what the page shows after "offline copy not installed: ". */
class NotInstalled extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
}

/** Downloads `path` (revalidated, not from the HTTP cache) and checks it against `expected`. */
async function verifiedResponse(path, expected) {
  const response = await fetch(new Request(path, {cache: 'no-cache'}));
  if (!response.ok) throw new NotInstalled(`${path} could not be downloaded (HTTP ${response.status})`);
  const actual = await sha256Hex(await response.clone().arrayBuffer());
  if (actual !== expected) throw new NotInstalled(`${path} did not match`);
  return response;
}

/**
 * Says why the install failed, on the console and to every page of the app (main.js shows it on the offline
 * line), so that a half-uploaded site or a stale precache.json is seen rather than silently never offline.
 */
async function reportFailure(error) {
  const reason = error instanceof NotInstalled ? error.reason : `the copy failed (${error})`;
  console.warn(`SkinLens offline copy of release ${RELEASE} not installed: ${reason}`);
  for (const client of await self.clients.matchAll({type: 'window', includeUncontrolled: true})) {
    client.postMessage({type: 'skinlens:offline-copy-failed', release: RELEASE, reason});
  }
}

/** Copies every file precache.json lists, each checked against its sha256, into this release's cache. */
async function install() {
  const listed = await fetch(new Request('precache.json', {cache: 'no-cache'}));
  if (!listed.ok) throw new NotInstalled(`precache.json could not be downloaded (HTTP ${listed.status})`);
  const manifest = await listed.clone().json();
  if (manifest.release !== RELEASE) {
    throw new NotInstalled(`the site changed to release ${manifest.release} during the copy; reload to copy it`);
  }
  const entries = Object.entries(manifest.files);
  const responses = await Promise.all(entries.map(([path, sha]) => verifiedResponse(path, sha)));
  // './' is index.html as the server names the folder: the same bytes.
  const root = await verifiedResponse('./', manifest.files['index.html']);
  // Written only once every file has arrived and matched: a failed install leaves no partial cache.
  await caches.delete(CACHE);
  const cache = await caches.open(CACHE);
  await Promise.all([...entries.map(([path], i) => cache.put(path, responses[i])), cache.put('./', root),
    cache.put('precache.json', listed)]);
  await self.skipWaiting();
}

self.addEventListener('install', (event) => {
  event.waitUntil(install().catch(async (error) => {
    await reportFailure(error);
    throw error;
  }));
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
      // Revalidated: a host that lets browsers keep its files (GitHub Pages: max-age=600) would otherwise
      // have the HTTP cache answer for the network, and an online visit show the release before.
      return await fetch(request, {cache: 'no-cache'});
    } catch (error) {
      const cache = await caches.open(CACHE);
      // ignoreSearch: `?backend=cpu` is the same page.
      const cached = await cache.match(request, {ignoreSearch: request.mode === 'navigate'});
      if (cached) return cached;
      throw error;
    }
  })());
});
