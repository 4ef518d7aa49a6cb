/**
 * The optional clinical fields (age, sex, body site, and for a model that takes them the questions about the
 * spot: metadata.clinical): drawn from the model's metadata, and read back, checked, when photos are added.
 */
import {byId, element} from './dom.js';
import {clinicalVector} from './metadata.js';

/**
 * Shows the optional clinical fields the model takes (metadata.clinical), each with a "not given" choice.
 * Nothing is filled in for the person and nothing is remembered beyond this page.
 *
 * @param {object|null} spec metadata.clinical; null hides the fields.
 */
export function showClinical(spec) {
  const fieldset = byId('clinical');
  const container = byId('clinical-fields');
  container.replaceChildren();
  fieldset.hidden = !spec;
  if (!spec) return;
  // The questions about the spot (a model trained with --questions: "about": "spot") go in a group of their own.
  const questions = spec.fields.filter((field) => field.about === 'spot');
  let spot = null;
  if (questions.length) {
    spot = element('fieldset', 'clinical-spot');
    spot.append(element('legend', '', 'About the spot'),
      element('p', 'hint', 'What you have noticed. Leave any you are not sure of as "not given".'));
    byId('clinical-hint').textContent = 'Age, sex, where the spot is and what you have noticed about it can ' +
      'sharpen the answer. Leave any of them blank. They are used for the photos you add next, stay in this ' +
      'page and are forgotten when you close it.';
  }
  for (const field of spec.fields) {
    const id = `clinical-${field.name}`;
    const wrapper = element('div', 'clinical-field');
    const label = element('label', '', field.unit ? `${field.label} (${field.unit})` : field.label);
    label.htmlFor = id;
    let control;
    if (field.kind === 'number') {
      control = element('input');
      Object.assign(control, {type: 'number', min: field.min, max: field.max, step: 1, inputMode: 'numeric',
        placeholder: 'not given'});
    } else {
      control = element('select');
      control.append(new Option('not given', ''));
      for (const value of field.values) control.append(new Option(value.label, value.id));
    }
    Object.assign(control, {id, name: field.name, autocomplete: 'off'});
    wrapper.append(label, control);
    (field.about === 'spot' ? spot : container).append(wrapper);
  }
  if (spot) container.append(spot);
}

/**
 * The clinical answers as filled in now, e.g. {age: 45, site: 'back'} (blank fields left out).
 *
 * @param {object|null} spec metadata.clinical.
 * @returns {{answers: object, error: string|null}} error says, in words, which field to correct.
 */
export function clinicalAnswers(spec) {
  const message = byId('clinical-error');
  const answers = {};
  let error = null;
  for (const field of spec?.fields ?? []) {
    const control = byId(`clinical-${field.name}`);
    const raw = control.value.trim();
    if (control.validity?.badInput) error = `${field.label}: please enter a number of ${field.unit ?? 'units'}.`;
    if (raw !== '') answers[field.name] = field.kind === 'number' ? Number(raw) : raw;
  }
  if (!error && spec) {
    try {
      clinicalVector(answers, {clinical: spec}); // the same check the classifier makes
    } catch (rangeError) {
      error = rangeError.message;
    }
  }
  message.textContent = error ?? '';
  message.hidden = !error;
  return {answers, error};
}
