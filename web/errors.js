/**
 * The errors SkinLens rejects with: a `code` a program can branch on and a `message` a person can read.
 *
 *   try { await model.classify(file); } catch (error) { if (error.code === 'heic') …; show(error.message); }
 *
 * Codes of a photo (ImageError): empty, too-large (bytes), too-many-pixels, too-small, heic, avif,
 * not-an-image, corrupt, invalid-answer (a clinical answer the model does not know). Codes of loading (SkinLensError):
 * download-failed (a file not downloaded, or not among the files of a model the user chose), metadata-invalid,
 * unsupported-model, file-altered, version-mismatch, model-mismatch, no-backend, no-crypto.
 */
export class SkinLensError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'SkinLensError';
    this.code = code;
  }
}

/** A photo (or an answer given with it) that cannot be classified: the user's input, not a fault. */
export class ImageError extends SkinLensError {
  constructor(code, message) {
    super(code, message);
    this.name = 'ImageError';
  }
}
