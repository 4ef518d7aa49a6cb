/**
 * The results of a batch as CSV, made in the page: one row per file, in the order chosen.
 *
 *   const text = resultsCsv(results, {classes, modelVersion, modelSha256, backend});
 *
 * Pure: no DOM, nothing stored. RFC 4180 quoting; a cell that a spreadsheet would run as a formula
 * (starting with = + - @ or a control character) is prefixed with an apostrophe, since file names
 * come from the user's disk.
 */

/** Quotes one cell for CSV and defuses spreadsheet formulas. */
function cell(value) {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * The CSV text for a batch of results.
 *
 * Columns: file, status, error, p_<class id> for every class, top_class, top_probability,
 * malignant_risk, risk_band, threshold, answers, scope_warnings, distance, blur, model_version, model_sha256,
 * backend, ms, classified_at. `answers`: the clinical answers the result used, e.g. "age=70;site=face;grown=yes"
 * (empty: the photo alone), so that a row can be reproduced.
 *
 * @param {object[]} results main.js PageResults (skinlens.js Results with file, error and classifiedAt;
 *   a failed one has error set and null or absent fields).
 * @param {{classes: object[], modelVersion: string, modelSha256: string, backend: string}} context modelSha256:
 *   the model's content digest (skinlens.js Model.digest), which names its files' sha256s.
 * @returns {string} CRLF line ends, header first.
 */
export function resultsCsv(results, {classes, modelVersion, modelSha256, backend}) {
  const header = ['file', 'status', 'error', ...classes.map((cls) => `p_${cls.id}`), 'top_class', 'top_probability',
    'malignant_risk', 'risk_band', 'threshold', 'answers', 'scope_warnings', 'distance', 'blur', 'model_version',
    'model_sha256', 'backend', 'ms', 'classified_at'];
  const rows = results.map((r) => {
    const ok = r.error === null;
    return [r.file, ok ? 'ok' : 'error', r.error,
      ...classes.map((_, i) => (ok ? r.classes[i].probability : null)),
      r.top?.id, r.top?.probability, r.risk,
      r.band ? `${r.band} concern` : null, r.threshold,
      (r.clinicalUsed ?? []).map((field) => `${field}=${r.clinical?.[field]}`).join(';'),
      r.warnings?.map((warning) => warning.code).join(' '), r.signals?.distance, r.signals?.blur,
      modelVersion, modelSha256, backend, ok ? Math.round(r.timing.modelMs * 10) / 10 : null, r.classifiedAt];
  });
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}
