/**
 * A simple front and back body outline (inline SVG) on which a person picks where a spot is, tied to a
 * <select> of the model's body sites (metadata.json clinical "site" values), which stays the accessible
 * control: the drawing is a mouse and touch shortcut to it, hidden from screen readers.
 *
 *   const picker = bodyPicker(siteField, {site: 'back', view: 'back'});
 *   form.append(picker.element);  picker.value();  // {site, view}
 */

const SVG = 'http://www.w3.org/2000/svg';

/** Regions of one figure centred on x = 0: [site, view ('front'|'back'|'both'), shape, attributes]. */
const REGIONS = [
  ['face', 'front', 'circle', {cx: 0, cy: 20, r: 13}],
  ['scalp', 'back', 'circle', {cx: 0, cy: 20, r: 13}],
  ['ear', 'both', 'circle', {cx: -15, cy: 21, r: 4}],
  ['ear', 'both', 'circle', {cx: 15, cy: 21, r: 4}],
  ['neck', 'both', 'rect', {x: -5, y: 33, width: 10, height: 9}],
  ['chest', 'front', 'rect', {x: -20, y: 42, width: 40, height: 30, rx: 4}],
  ['abdomen', 'front', 'rect', {x: -20, y: 72, width: 40, height: 28}],
  ['genital', 'front', 'rect', {x: -8, y: 100, width: 16, height: 10}],
  ['back', 'back', 'rect', {x: -20, y: 42, width: 40, height: 58, rx: 4}],
  ['trunk', 'back', 'rect', {x: -20, y: 100, width: 40, height: 10}],
  ['upper extremity', 'both', 'rect', {x: -33, y: 44, width: 11, height: 52, rx: 5}],
  ['upper extremity', 'both', 'rect', {x: 22, y: 44, width: 11, height: 52, rx: 5}],
  ['hand', 'both', 'circle', {cx: -27.5, cy: 103, r: 6}],
  ['hand', 'both', 'circle', {cx: 27.5, cy: 103, r: 6}],
  ['lower extremity', 'both', 'rect', {x: -18, y: 111, width: 15, height: 68, rx: 5}],
  ['lower extremity', 'both', 'rect', {x: 3, y: 111, width: 15, height: 68, rx: 5}],
  ['foot', 'front', 'ellipse', {cx: -11, cy: 185, rx: 9, ry: 5}],
  ['foot', 'front', 'ellipse', {cx: 11, cy: 185, rx: 9, ry: 5}],
  ['acral', 'back', 'ellipse', {cx: -11, cy: 185, rx: 9, ry: 5}],
  ['acral', 'back', 'ellipse', {cx: 11, cy: 185, rx: 9, ry: 5}],
];

const FIGURES = [{view: 'front', x: 60, label: 'Front'}, {view: 'back', x: 180, label: 'Back'}];

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

/**
 * @param {{values: {id: string, label: string}[]}} siteField metadata.clinical's "site" field.
 * @param {{site?: string, view?: string}} initial
 * @returns {{element: HTMLElement, select: HTMLSelectElement, value: function(): {site: string, view: string}}}
 */
export function bodyPicker(siteField, {site = '', view = 'front'} = {}) {
  const known = new Map(siteField.values.map((value) => [value.id, value.label]));
  const element = document.createElement('div');
  element.className = 'body-picker';
  const label = document.createElement('label');
  label.textContent = 'Where on the body ';
  const select = document.createElement('select');
  select.className = 'spot-site';
  select.append(new Option('choose…', ''), ...siteField.values.map((value) => new Option(value.label, value.id)));
  select.value = site;
  label.append(select);
  let chosenView = view;

  const drawing = svg('svg', {viewBox: '0 0 240 200', class: 'body-map', 'aria-hidden': 'true', focusable: 'false'});
  const shapes = [];
  for (const figure of FIGURES) {
    const group = svg('g', {transform: `translate(${figure.x} 0)`});
    for (const [id, regionView, shape, attributes] of REGIONS) {
      if (!known.has(id) || (regionView !== 'both' && regionView !== figure.view)) continue;
      const node = svg(shape, {...attributes, class: 'body-region', 'data-site': id, 'data-view': figure.view});
      node.append(svg('title'));
      node.firstChild.textContent = `${known.get(id)} (${figure.label.toLowerCase()})`;
      node.addEventListener('click', () => {
        select.value = id;
        chosenView = figure.view;
        highlight();
      });
      shapes.push(node);
      group.append(node);
    }
    const caption = svg('text', {x: 0, y: 199, 'text-anchor': 'middle', class: 'body-caption'});
    caption.textContent = figure.label;
    group.append(caption);
    drawing.append(group);
  }
  function highlight() {
    for (const node of shapes) {
      const on = node.dataset.site === select.value && (node.dataset.view === chosenView ||
        !shapes.some((s) => s.dataset.site === select.value && s.dataset.view === chosenView));
      node.classList.toggle('chosen', on);
    }
  }
  select.addEventListener('change', highlight);
  highlight();
  element.append(label, drawing);
  return {element, select, value: () => ({site: select.value, view: chosenView})};
}
