/** Small DOM helpers shared by the spots' views (no inline styles or HTML strings: the page's CSP). */

/**
 * @param {string} tag
 * @param {{[name: string]: any}} props `class`, `text`, `on` ({event: handler}), else attributes
 *   (false/null left out).
 * @param {...(Node|string|null)} children
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else if (name === 'on') for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

/** A type=button button. */
export function button(text, onClick, className = 'button') {
  return el('button', {type: 'button', class: className, text, on: {click: onClick}});
}

/** Saves text or a Blob as a download through a short-lived blob: URL (nothing is sent). */
export function download(content, fileName, type) {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], {type}));
  const link = el('a', {href: url, download: fileName, hidden: true});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** "12 Mar 2026" for an ISO date. */
export function dateText(iso) {
  return new Date(`${iso.slice(0, 10)}T12:00:00Z`).toLocaleDateString('en-GB',
    {day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC'});
}

/** A visit's answer in a few words, e.g. "Higher concern · risk 42% · Melanoma". */
export function answerText(answer) {
  if (!answer) return 'no answer';
  const band = answer.band === 'higher' ? 'Higher concern' : answer.band === 'lower' ? 'Lower concern' : 'No concern band';
  const risk = answer.risk === null || answer.risk === undefined ? '' : ` · risk ${Math.round(answer.risk * 100)}%`;
  return `${band}${risk} · ${answer.top?.name ?? '?'}`;
}

/** A size in words, e.g. "6.9 ± 0.3 mm (6 mm or more)". */
export function sizeText(size) {
  if (!size) return 'not measured';
  return `${size.mm.toFixed(1)} ± ${size.uncertaintyMm.toFixed(1)} mm` + (size.d2Mm ? ` (across: ${size.d2Mm.toFixed(1)} mm)` : '') +
    (size.atLeast6 ? ' — 6 mm or more' : '');
}
