/**
 * Copies the TensorFlow.js browser bundles from node_modules into web/vendor/tfjs/,
 * so that GitHub Pages can serve web/ as it is, with no build step and no CDN.
 *
 * Run after `npm install` (or `npm ci`) whenever package.json's tfjs version changes:
 *
 *     npm run vendor
 *
 * It writes web/vendor/tfjs/VERSIONS.json (package → version, file → sha256, file → source)
 * which tests/test_vendor.py checks against the vendored files and node_modules.
 */
import {createHash} from 'node:crypto';
import {mkdir, readFile, readdir, rm, writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'web', 'vendor', 'tfjs');

/** Vendored file name → path relative to the repository root. */
const sources = {
  'tf-core.min.js': 'node_modules/@tensorflow/tfjs-core/dist/tf-core.min.js',
  'tf-backend-cpu.min.js': 'node_modules/@tensorflow/tfjs-backend-cpu/dist/tf-backend-cpu.min.js',
  'tf-backend-webgl.min.js': 'node_modules/@tensorflow/tfjs-backend-webgl/dist/tf-backend-webgl.min.js',
  'tf-backend-wasm.min.js': 'node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  'tf-converter.min.js': 'node_modules/@tensorflow/tfjs-converter/dist/tf-converter.min.js',
  'tfjs-backend-wasm.wasm': 'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm': 'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm':
    'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm',
  // The tfjs npm packages ship no LICENSE file; each declares "Apache-2.0" in its package.json
  // (checked below), so the one Apache 2.0 text covers all of them.
  'LICENSE': 'scripts/Apache-2.0.txt',
};

const readJson = async (path) => JSON.parse(await readFile(join(root, path), 'utf8'));

const {dependencies} = await readJson('package.json');
const packages = {};
for (const [name, wanted] of Object.entries(dependencies)) {
  const installed = await readJson(`node_modules/${name}/package.json`);
  if (installed.version !== wanted) {
    throw new Error(`${name} ${installed.version} is installed but package.json pins ${wanted}: run npm ci`);
  }
  if (installed.license !== 'Apache-2.0') {
    throw new Error(`${name} is licensed ${installed.license}, not Apache-2.0: update the vendored LICENSE`);
  }
  packages[name] = installed.version;
}

// Start from an empty folder so a file dropped from the list does not linger.
await rm(target, {recursive: true, force: true});
await mkdir(target, {recursive: true});
const files = {};
for (const [name, source] of Object.entries(sources)) {
  // Read and write rather than copyFile: npm's files are mode 755, and git should not record them executable.
  const bytes = await readFile(join(root, source));
  await writeFile(join(target, name), bytes);
  files[name] = createHash('sha256').update(bytes).digest('hex');
}
await writeFile(join(target, 'VERSIONS.json'), JSON.stringify({packages, files, sources}, null, 2) + '\n');
console.log(`vendored ${(await readdir(target)).length} files into ${target}`);
