/**
 * The spots kept on this device: IndexedDB, every value encrypted (crypto.js), opened with a passphrase
 * whose key is kept in this module's memory only and forgotten on lock() or when the page closes.
 *
 *   await create('a long passphrase');      // the first time; or await unlock('a long passphrase')
 *   const spot = await putSpot({name: 'Left shoulder mole', site: 'back', view: 'back'});
 *   await putVisit({spotId: spot.id, date: '2026-12-06', answer, modelVersion}, photoBlob);
 *   await listSpots();                      // [{...spot, visits: [...]}], visits oldest first
 *   lock();  await deleteEverything();
 *
 * Database "skinlens-spots": `vault` holds one entry, the key derivation's salt and iterations and a
 * sealed check value (so that a wrong passphrase is refused before anything is read or written);
 * `records` holds spots and visits, each sealed JSON under a random id; `photos` holds each visit's
 * photo, sealed bytes under the visit's id. Nothing but random ids and ciphertext is stored in the clear.
 *
 * The export file (exportFile/importFile) is JSON: {format, schema, kdf, iv, data}, data being every
 * record and photo sealed with the same passphrase's key (its salt in kdf), so that it opens on another
 * device with the passphrase alone.
 */
import {WrongKey, deriveKey, fromBase64, newKdf, open, openJson, seal, sealJson, toBase64} from './crypto.js';

export {WrongKey};

export const DB_NAME = 'skinlens-spots';
export const FORMAT = 'skinlens-spots';
/** The export file's and the vault's schema; importFile refuses a newer one it cannot know. */
export const SCHEMA = 1;
const CHECK = 'skinlens-spots-check';

/** The key of the open vault; null when locked. Never stored. */
let key = null;
let kdf = null;
let dbPromise = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function db() {
  dbPromise ??= new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      for (const name of ['vault', 'records', 'photos']) req.result.createObjectStore(name);
    };
    req.onsuccess = () => {
      // Another tab deleting everything closes this connection rather than waiting on it.
      req.result.onversionchange = () => {
        req.result.close();
        dbPromise = null;
      };
      resolve(req.result);
    };
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the spots are open in another tab: close it and try again'));
  });
  return dbPromise;
}

/** Runs `work(stores)` in one transaction over `names`; resolves with its result once committed. */
async function transaction(names, mode, work) {
  const tx = (await db()).transaction(names, mode);
  const stores = Object.fromEntries(names.map((name) => [name, tx.objectStore(name)]));
  const done = new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('storage transaction aborted'));
  });
  const result = await work(stores);
  await done;
  return result;
}

/** Whether the database exists, found without opening (and so creating) it: nothing is stored unless asked. */
async function exists() {
  if (dbPromise) return true;
  const databases = await indexedDB.databases?.();
  return databases ? databases.some((database) => database.name === DB_NAME) : true;
}

function requireOpen() {
  if (!key) throw new Error('the spots are locked');
}

/** @returns {Promise<'new'|'locked'|'open'>} whether spots were set up on this device, and unlocked. */
export async function state() {
  if (key) return 'open';
  if (!(await exists())) return 'new';
  const vault = await transaction(['vault'], 'readonly', ({vault}) => request(vault.get('vault')));
  return vault ? 'locked' : 'new';
}

/**
 * Sets up the spots on this device with a new passphrase, and opens them.
 *
 * @throws {Error} when spots are already set up here.
 */
export async function create(passphrase) {
  if ((await state()) !== 'new') throw new Error('spots are already set up on this device');
  const newKey = await deriveKey(passphrase, kdf = newKdf());
  const check = await sealJson(newKey, CHECK);
  await transaction(['vault'], 'readwrite', ({vault}) => request(vault.add(
    {schema: SCHEMA, kdf: {...kdf, salt: kdf.salt.buffer}, check}, 'vault')));
  key = newKey;
}

/**
 * Opens the spots with their passphrase.
 *
 * @throws {WrongKey} for another passphrase; nothing is read or changed then.
 */
export async function unlock(passphrase) {
  const vault = await transaction(['vault'], 'readonly', ({vault}) => request(vault.get('vault')));
  if (!vault) throw new Error('no spots are set up on this device');
  const candidate = await deriveKey(passphrase, vault.kdf);
  if ((await openJson(candidate, vault.check)) !== CHECK) throw new WrongKey();
  key = candidate;
  kdf = vault.kdf;
}

/** Forgets the key: nothing can be read again without the passphrase. */
export function lock() {
  key = null;
  kdf = null;
}

/** Deletes the whole database (every spot, visit, photo and the vault) and forgets the key. */
export async function deleteEverything() {
  lock();
  const opened = await dbPromise?.catch(() => null);
  opened?.close();
  dbPromise = null;
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(DB_NAME);
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the spots are open in another tab: close it and try again'));
  });
}

async function readAll() {
  requireOpen();
  const sealed = await transaction(['records'], 'readonly', ({records}) => request(records.getAll()));
  return Promise.all(sealed.map((value) => openJson(key, value)));
}

/**
 * Every spot with its visits (oldest first), spots in the order they were made.
 *
 * @returns {Promise<object[]>}
 */
export async function listSpots() {
  const all = await readAll();
  const spots = all.filter((r) => r.kind === 'spot').sort((a, b) => a.created.localeCompare(b.created));
  const visits = all.filter((r) => r.kind === 'visit').sort((a, b) => a.date.localeCompare(b.date) ||
    a.created.localeCompare(b.created));
  return spots.map((spot) => ({...spot, visits: visits.filter((visit) => visit.spotId === spot.id)}));
}

function stamped(record, kind) {
  return {...record, kind, id: record.id ?? crypto.randomUUID(), created: record.created ?? new Date().toISOString()};
}

/** Saves a spot ({name, site, view}), new or changed. @returns {Promise<object>} it, with id and created. */
export async function putSpot(spot) {
  requireOpen();
  const record = stamped(spot, 'spot');
  delete record.visits;
  const sealed = await sealJson(key, record);
  await transaction(['records'], 'readwrite', ({records}) => request(records.put(sealed, record.id)));
  return record;
}

/**
 * Saves a visit ({spotId, date, answer, modelVersion, size?, checklist?, reassessed?}), new or changed,
 * and its photo when given (a visit's photo is never changed once kept).
 *
 * @returns {Promise<object>} the visit, with id and created.
 */
export async function putVisit(visit, photo = null) {
  requireOpen();
  const record = stamped(visit, 'visit');
  if (photo) record.photoType = photo.type;
  const sealed = await sealJson(key, record);
  const sealedPhoto = photo && await seal(key, await photo.arrayBuffer());
  await transaction(['records', 'photos'], 'readwrite', ({records, photos}) => {
    records.put(sealed, record.id);
    if (sealedPhoto) photos.put(sealedPhoto, record.id);
  });
  return record;
}

/** A visit's photo. @returns {Promise<Blob|null>} */
export async function photo(visit) {
  requireOpen();
  const sealed = await transaction(['photos'], 'readonly', ({photos}) => request(photos.get(visit.id)));
  return sealed ? new Blob([await open(key, sealed)], {type: visit.photoType ?? 'image/jpeg'}) : null;
}

/** Deletes one visit and its photo. */
export async function removeVisit(id) {
  requireOpen();
  await transaction(['records', 'photos'], 'readwrite', ({records, photos}) => {
    records.delete(id);
    photos.delete(id);
  });
}

/** Deletes one spot with all its visits and photos. */
export async function removeSpot(id) {
  const spot = (await listSpots()).find((s) => s.id === id);
  if (!spot) return;
  await transaction(['records', 'photos'], 'readwrite', ({records, photos}) => {
    for (const visit of spot.visits) {
      records.delete(visit.id);
      photos.delete(visit.id);
    }
    records.delete(id);
  });
}

/**
 * Every spot, visit and photo in one file, sealed with the passphrase's key.
 *
 * @returns {Promise<string>} the file's text (JSON).
 */
export async function exportFile() {
  const records = await readAll();
  const photos = {};
  for (const record of records.filter((r) => r.kind === 'visit')) {
    const blob = await photo(record);
    if (blob) photos[record.id] = toBase64(await blob.arrayBuffer());
  }
  const sealed = await sealJson(key, {records, photos});
  return JSON.stringify({format: FORMAT, schema: SCHEMA, exported: new Date().toISOString(),
    kdf: {...kdf, salt: toBase64(kdf.salt)}, iv: toBase64(sealed.iv), data: toBase64(sealed.data)});
}

/**
 * Reads an export file with its passphrase and adds its spots here: 'merge' keeps the spots already here
 * (a record in both is the file's), 'replace' deletes them first. Where no spots are set up yet, they
 * are set up with the file's passphrase; otherwise they must be unlocked, and the file's records are
 * sealed again with this device's key.
 *
 * @param {string} text the file's text.
 * @param {string} passphrase the file's.
 * @param {'merge'|'replace'} mode
 * @returns {Promise<{spots: number, visits: number}>} what the file held.
 * @throws {WrongKey} for another passphrase; nothing is changed then.
 * @throws {Error} for a file that is not a SkinLens spots file, or from a newer version.
 */
export async function importFile(text, passphrase, mode = 'merge') {
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new Error('this is not a SkinLens spots file');
  }
  if (file?.format !== FORMAT) throw new Error('this is not a SkinLens spots file');
  if (file.schema > SCHEMA) throw new Error('this file is from a newer SkinLens: update this page first');
  const fileKey = await deriveKey(passphrase, {iterations: file.kdf.iterations, salt: fromBase64(file.kdf.salt)});
  const {records, photos} = await openJson(fileKey, {iv: fromBase64(file.iv), data: fromBase64(file.data)});
  if ((await state()) === 'new') await create(passphrase);
  requireOpen();
  const sealed = [];
  for (const record of records) {
    const bytes = photos[record.id] && fromBase64(photos[record.id]);
    sealed.push([record.id, await sealJson(key, record), bytes && await seal(key, bytes)]);
  }
  await transaction(['records', 'photos'], 'readwrite', ({records: store, photos: photoStore}) => {
    if (mode === 'replace') {
      store.clear();
      photoStore.clear();
    }
    for (const [id, record, sealedPhoto] of sealed) {
      store.put(record, id);
      if (sealedPhoto) photoStore.put(sealedPhoto, id);
    }
  });
  return {spots: records.filter((r) => r.kind === 'spot').length, visits: records.filter((r) => r.kind === 'visit').length};
}
