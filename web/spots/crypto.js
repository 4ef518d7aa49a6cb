/**
 * The spots' encryption, all of it WebCrypto (no hand-written cipher): a key derived from the person's
 * passphrase with PBKDF2-SHA-256, and AES-256-GCM with a fresh random 96-bit IV for every value sealed.
 * The key is created non-extractable and lives in memory only (store.js forgets it on lock or close);
 * the salt and iteration count are stored beside the data, as they are not secret.
 *
 *   const kdf = newKdf();                               // {name, hash, iterations, salt}
 *   const key = await deriveKey('correct horse', kdf);
 *   const sealed = await seal(key, bytes);              // {iv, data}: both ArrayBuffers
 *   const bytes2 = await open(key, sealed);             // rejects with WrongKey if the key is not the one
 */

/**
 * PBKDF2 iterations: OWASP's 2023 figure for PBKDF2-HMAC-SHA-256 (600,000). About half a second in a
 * current browser, paid once per unlock; a file imported with more is accepted, with fewer refused.
 */
export const ITERATIONS = 600_000;

/** A salt or key that does not open what was sealed: a wrong passphrase, or altered data. */
export class WrongKey extends Error {
  constructor() {
    super('That passphrase does not open these spots.');
    this.name = 'WrongKey';
    this.code = 'wrong-passphrase';
  }
}

/** @returns {{name: 'PBKDF2', hash: 'SHA-256', iterations: number, salt: Uint8Array}} a new random salt. */
export function newKdf() {
  return {name: 'PBKDF2', hash: 'SHA-256', iterations: ITERATIONS, salt: crypto.getRandomValues(new Uint8Array(16))};
}

/**
 * The AES-GCM key of a passphrase.
 *
 * @param {string} passphrase
 * @param {{iterations: number, salt: Uint8Array|ArrayBuffer}} kdf
 * @returns {Promise<CryptoKey>} non-extractable, for encrypt and decrypt only.
 */
export async function deriveKey(passphrase, {iterations, salt}) {
  if (!(iterations >= ITERATIONS)) throw new Error(`refusing a key derivation with ${iterations} iterations`);
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase.normalize('NFC')),
    'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey({name: 'PBKDF2', hash: 'SHA-256', iterations, salt: new Uint8Array(salt)},
    material, {name: 'AES-GCM', length: 256}, false, ['encrypt', 'decrypt']);
}

/**
 * Encrypts bytes with a fresh IV; the 128-bit GCM tag makes any change to them, or another key, detectable.
 *
 * @param {CryptoKey} key
 * @param {ArrayBuffer|Uint8Array} bytes
 * @returns {Promise<{iv: ArrayBuffer, data: ArrayBuffer}>}
 */
export async function seal(key, bytes) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({name: 'AES-GCM', iv}, key, bytes);
  return {iv: iv.buffer, data};
}

/**
 * Decrypts what seal made.
 *
 * @returns {Promise<ArrayBuffer>}
 * @throws {WrongKey} when the key is not the one it was sealed with, or the data were altered.
 */
export async function open(key, {iv, data}) {
  try {
    return await crypto.subtle.decrypt({name: 'AES-GCM', iv: new Uint8Array(iv)}, key, data);
  } catch {
    throw new WrongKey();
  }
}

/** seal for a JSON value. */
export function sealJson(key, value) {
  return seal(key, new TextEncoder().encode(JSON.stringify(value)));
}

/** open for a JSON value. */
export async function openJson(key, sealed) {
  return JSON.parse(new TextDecoder().decode(await open(key, sealed)));
}

/** Bytes as base64, for the export file (chunked: String.fromCharCode takes a bounded number of arguments). */
export function toBase64(bytes) {
  const view = new Uint8Array(bytes);
  let text = '';
  for (let i = 0; i < view.length; i += 0x8000) text += String.fromCharCode(...view.subarray(i, i + 0x8000));
  return btoa(text);
}

/** @returns {Uint8Array} */
export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
