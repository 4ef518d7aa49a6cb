/**
 * What the page's DOM modules share: finding and making elements, and the words for a concern level and a
 * probability that both a card and the results table use. Only the DOM modules import it (status.js,
 * model-picker.js, inputs.js, fields.js, card.js, results.js): main.js orchestrates and never touches the
 * DOM itself. Text from files and metadata goes in through textContent, never as HTML.
 */

export const BANDS = {
  higher: {label: 'Higher concern', advice: 'have a doctor look at it soon.', symbol: '▲'},
  lower: {label: 'Lower concern', advice: 'keep an eye on it; see a doctor if it changes.', symbol: '●'},
};

export const byId = (id) => document.getElementById(id);

/** Creates an element with optional class and text. */
export function element(tag, className = '', text = '') {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Formats a probability as a percentage for display. */
export function percent(probability) {
  return probability < 0.001 ? '<0.1%' : `${(probability * 100).toFixed(1)}%`;
}

/** Says something to screen readers through the polite live region. */
export function announce(message) {
  byId('announcer').textContent = message;
}
