/**
 * One photo's result card (resultCard): the photo with its activation-map toggle, the concern level with
 * its validated figures, any out-of-scope warning, every type with its probability and description, the
 * clinical fields it used and when and by which model it was made. results.js puts it on the page.
 */
import {BANDS, element, percent} from './dom.js';
import {heatmapImageData} from './heatmap.js';
import {RETAKE_CHECKS, riskBin, screeningFigures} from './metadata.js';

/**
 * The card's time, in the reader's own format. Made once, when the page loads: the first date formatted
 * this way loads the locale's data, which took a few hundred ms of the page's thread while the first card
 * was drawn (the same as Date.toLocaleString with these options).
 */
const CLASSIFIED_AT = new Intl.DateTimeFormat(undefined, {dateStyle: 'long', timeStyle: 'short'});

const THUMBNAIL_SIZE = 320; // longest side, in canvas pixels (shown at most at half that on wide screens)

/** "95 of every 100", for sensitivity and specificity in plain words. */
function ofEvery100(fraction) {
  return `${Math.round(fraction * 100)} of every 100`;
}

/** The clinical fields a result used, in words, for its card. */
function clinicalLine(result, metadata) {
  if (!metadata.clinical) return null;
  const fields = metadata.clinical.fields;
  const asks = fields.some((field) => field.about === 'spot');
  if (!result.clinicalUsed?.length) {
    return asks ? 'Nothing about the person or the spot was given: this answer is from the photo alone.' :
      'Age, sex and body site were not given: this answer is from the photo alone.';
  }
  const used = fields.filter((field) => result.clinicalUsed.includes(field.name));
  const words = used.filter((field) => field.about !== 'spot').map((field) => {
    const value = result.clinical[field.name];
    const shown = field.kind === 'number' ? `${value} ${field.unit ?? ''}`.trim() :
      (field.values.find((v) => v.id === value)?.label ?? value).toLowerCase();
    return `${field.label.toLowerCase()} ${shown}`;
  });
  // What the person said of the spot, each answer in its own words ("it has grown"), apart from the rest.
  const said = used.filter((field) => field.about === 'spot').map((field) => {
    const value = result.clinical[field.name];
    return field.values.find((v) => v.id === value)?.said ?? `${field.label} ${value}`;
  });
  if (!said.length) return `This answer used the photo and ${words.join(', ')}.`;
  const person = words.length ? `, ${words.join(', ')}` : '';
  return `This answer used the photo${person} and what you said of the spot: ${said.join('; ')}.`;
}

/** A figure with the photo (as the model saw it: EXIF orientation applied, aspect kept) and its overlay. */
function photoFigure(bitmap, result, classes) {
  const scale = Math.min(1, THUMBNAIL_SIZE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const figure = element('figure', 'photo');
  const frame = element('div', 'photo-frame');
  const canvas = element('canvas', 'thumbnail');
  Object.assign(canvas, {width, height});
  canvas.getContext('2d').drawImage(bitmap, 0, 0, width, height);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Photo ${result.file}`);
  frame.append(canvas);
  figure.append(frame);
  const {cam} = result;
  if (!cam || result.error) return figure;

  const topIndex = classes.findIndex((cls) => cls.id === result.top.id);
  const overlay = element('canvas', 'heatmap');
  Object.assign(overlay, {width, height});
  overlay.setAttribute('aria-hidden', 'true');
  overlay.hidden = true;
  frame.append(overlay);

  const toggle = element('input', 'heatmap-toggle');
  toggle.type = 'checkbox';
  const label = element('label', 'toggle');
  label.append(toggle, ` Show where the model looked for “${result.top.name}”`);
  const legend = element('figcaption', 'heatmap-legend');
  legend.append(element('span', '', 'weak'), element('span', 'scale'), element('span', '', 'strong'));
  legend.hidden = true;
  const explanation = element('p', 'heatmap-note',
    `Activation map of the best-matching type (${result.top.name}): bright yellow areas raised its score most, ` +
    'dark purple least. It shows where the model looked, not where the lesion is.');
  explanation.hidden = true;
  let drawn = false;
  toggle.addEventListener('change', () => {
    // Coloured when first shown, not with the card: its pixels took up to 100 ms of the page's thread on a
    // busy machine, which would block the page while every photo is classified, for a map few people open.
    if (toggle.checked && !drawn) {
      overlay.getContext('2d').putImageData(heatmapImageData(cam, topIndex, width, height), 0, 0);
      drawn = true;
    }
    overlay.hidden = legend.hidden = explanation.hidden = !toggle.checked;
    canvas.setAttribute('aria-label', `Photo ${result.file}${toggle.checked ? ', with activation map' : ''}`);
  });
  figure.append(label, legend, explanation);
  return figure;
}

/**
 * What a score means, in words people read correctly: how many of the validation images that scored in
 * the same range were a skin cancer (metadata.js riskBin), never the score as a percentage.
 */
function riskInWords(result, metadata) {
  const kind = result.pictureKind?.id ?? null;
  const bin = riskBin(result.risk, metadata, result.clinicalUsed, kind);
  if (!bin || bin.rate === null) return null;
  const per100 = Math.round(bin.rate * 100);
  const share = per100 === 0 ? 'fewer than 1 in 100' : per100 === 100 ? 'nearly all' : `about ${per100} of every 100`;
  const which = kind === 'photo' ? 'ordinary (phone) photos' : 'dermoscopic images';
  return `In our tests on ${which}, ${share} pictures that scored like this one were a skin cancer.`;
}

/** Where a kind's figures were measured, for the card's sentence. */
const FIGURES_WHERE = {
  test: {photo: 'On phone photos of other patients', dermoscopic: 'On dermoscopic images of lesions it had not seen',
    null: 'On images it had not seen'},
  validation: {photo: 'On the validation pictures it took for phone photos', dermoscopic: 'On the validation pictures it ' +
    'took for dermoscopic close-ups', null: 'On its validation images'},
};

/** The answer: the concern level in words and symbol, what its score means, and the check's validated figures. */
function triageBox(result, metadata) {
  const band = BANDS[result.band];
  const box = element('div', `triage band-${result.band}`);
  const heading = element('p', 'band-label');
  // Few validation cancers of this kind of picture: a calm answer is not one to rely on.
  const advice = result.band === 'lower' && result.fewCancers ?
    'SkinLens has seen few cancers in pictures like this one, so do not rely on this answer: have a doctor look ' +
    'at it if it worries you, and see one if it changes.' : band.advice;
  heading.append(element('span', 'band-symbol', band.symbol), ' ', element('strong', '', `${band.label}:`),
    ` ${advice}`);
  heading.firstChild.setAttribute('aria-hidden', 'true');
  box.append(heading);
  if (result.pictureKind) {
    box.append(element('p', 'picture-kind', `Judged as ${article(result.pictureKind.name)} ${result.pictureKind.name}: ` +
      'its own threshold and figures are used.'));
  }
  const words = riskInWords(result, metadata);
  if (words) box.append(element('p', 'band-odds', words));
  const figures = screeningFigures(metadata, {photoOnly: result.clinicalUsed.length === 0,
    kind: result.pictureKind?.id ?? null});
  if (figures) {
    const where = FIGURES_WHERE[figures.split][figures.kind];
    box.append(element('p', 'band-detail',
      `${where}, this check caught ${ofEvery100(figures.sensitivity)} cancers (sensitivity) and cleared ` +
      `${ofEvery100(figures.specificity)} harmless lesions (specificity)` +
      (figures.n_malignant != null ? `, out of ${figures.n_malignant} cancers and ${figures.n_benign} harmless ` +
        'lesions.' : '.')));
    if (figures.few_cancers) {
      box.append(element('p', 'band-detail few-cancers', `These figures rest on only ${figures.n_validation_cancers} ` +
        'validation cancers in pictures of this kind: read them as rough.'));
    }
  }
  const cancers = metadata.classes.filter((cls) => metadata.screening.malignant_classes.includes(cls.id));
  const how = element('details', 'band-how');
  how.append(element('summary', '', 'How this is worked out'), element('p', 'band-detail',
    `The model's scores for ${cancers.map((cls) => cls.name).join(', ')} add up to ${result.risk.toFixed(3)} ` +
    `on a scale of 0 to 1; from ${result.threshold.toFixed(3)} SkinLens says “higher concern”. That threshold ` +
    'was set to miss as few cancers as it can while clearing as many harmless spots as it can.'));
  box.append(how, element('p', 'band-detail', 'A screening aid, not a diagnosis.'));
  return box;
}

/** The out-of-scope warning, listing each reason. */
function scopeWarning(warnings) {
  const box = element('div', 'scope-warning');
  let reasons = warnings;
  const retake = warnings.filter((warning) => RETAKE_CHECKS.includes(warning.code));
  if (warnings.some((warning) => warning.code === 'not-a-lesion')) {
    // A spot photographed badly is told how to retake it, before being told it may be no spot at all.
    box.append(element('p', 'scope-lead', retake.length ?
      'SkinLens cannot judge this picture as it was taken, so it gives no answer. Take it again:' :
      'SkinLens found no spot on the skin in this picture, so it gives no answer. If it is a spot, take the photo ' +
      'again: the spot in the middle filling about a third of the frame, a hand\'s width away, sharp and well lit.'));
    reasons = warnings.filter((warning) => warning.code !== 'not-a-lesion');
    if (!reasons.length) return box;
    if (!retake.length) box.append(element('p', '', 'Also:'));
  } else {
    box.append(element('p', '', 'Check the photo: this result may not be reliable because'));
  }
  const list = element('ul');
  for (const warning of [...retake, ...reasons.filter((w) => !retake.includes(w))]) {
    list.append(element('li', '', warning.message));
  }
  box.append(list);
  return box;
}

/** "an" before a vowel sound, else "a". */
function article(noun) {
  return /^[aeiou]/i.test(noun) ? 'an' : 'a';
}

/**
 * The type breakdown: every class in metadata order with its bar and description, the top one marked in
 * words. On a higher-concern card the harmless types' reassuring descriptions are left out and a line says
 * that the concern level, not the type, is what to act on: the breakdown must not read against the answer.
 */
function typeBreakdown(classes, probabilities, topIndex, band) {
  const section = element('section', 'types');
  section.append(element('h4', 'types-title', 'Which type of spot it looks most like'));
  if (band === 'higher') {
    section.append(element('p', 'types-note',
      'Whatever type comes first here, act on the concern level above: a doctor should look at this spot.'));
  }
  section.append(probabilityTable(classes, probabilities, topIndex, band === 'higher'));
  return section;
}

function probabilityTable(classes, probabilities, topIndex, withoutReassurance) {
  const table = element('table', 'classes');
  table.append(element('caption', 'visually-hidden', 'Probability of each type of skin lesion'));
  classes.forEach((cls, index) => {
    const row = element('tr', index === topIndex ? 'is-top' : '');
    const name = element('th', 'class-name');
    name.scope = 'row';
    if (index === topIndex) name.append(element('span', 'top-mark', 'Best match: '));
    name.append(element('span', 'class-label', cls.name));
    if (cls.malignant) name.append(' ', element('span', 'tag', 'cancer type'));
    if (cls.description && !(withoutReassurance && !cls.malignant)) {
      name.append(element('span', 'class-description', cls.description));
    }
    const bar = element('meter', 'bar');
    Object.assign(bar, {min: 0, max: 1, value: probabilities[index]});
    bar.setAttribute('aria-label', `${cls.name}: ${percent(probabilities[index])}`);
    const barCell = element('td', 'bar-cell');
    barCell.append(bar);
    row.append(name, barCell, element('td', 'percent', percent(probabilities[index])));
    table.append(row);
  });
  return table;
}

/** Whether the model's not-a-lesion check flagged the picture (its card then gives no answer in view). */
export function isNotALesion(result) {
  return Boolean(result.warnings?.some((warning) => warning.code === 'not-a-lesion'));
}

/** The line that unfolds a batch card: the photo's name and its answer (or why it could not be read). */
function cardSummary(result) {
  const line = element('summary', 'result-summary');
  line.append(element('span', 'summary-name', result.file), ' ');
  if (result.error) {
    line.append(element('span', 'summary-error', `Could not classify: ${result.error}`));
    return line;
  }
  if (isNotALesion(result)) {
    line.append(element('span', 'summary-warning', 'not a close-up of a skin lesion: no answer'));
    return line;
  }
  const band = BANDS[result.band];
  const answer = element('span', band ? `band-text-${result.band}` : '', band ? band.label : 'no concern level');
  if (band) {
    const symbol = element('span', 'band-symbol', `${band.symbol} `);
    symbol.setAttribute('aria-hidden', 'true');
    answer.prepend(symbol);
  }
  line.append(answer, ` · best match ${result.top.name}`);
  if (result.warnings.length) line.append(' · ', element('span', 'summary-warning', 'check the photo'));
  return line;
}

/**
 * When and by what the card's answer was made, for a printed or saved copy: the time it was classified
 * (in the reader's own format) and the model's version (metadata.json).
 */
function provenance(result, metadata) {
  const line = element('p', 'provenance');
  const time = element('time', 'classified-at', CLASSIFIED_AT.format(new Date(result.classifiedAt)));
  time.dateTime = result.classifiedAt;
  line.append(result.error ? 'Tried on ' : 'Classified on ', time, ' by SkinLens model ',
    element('span', 'model-version', metadata.model.version), ', in this browser: the photo was not uploaded.');
  return line;
}

/**
 * One photo's card: the photo with its activation-map toggle, the concern level, any out-of-scope warning,
 * every type with its probability and description, and a print button; or the message saying why the file
 * could not be classified.
 *
 * @param {object} result main.js PageResult: skinlens.js Result with file, clinical and error.
 * @param {object} metadata model/metadata.json.
 * @param {ImageBitmap|null} bitmap the decoded photo, when decoding succeeded.
 * @param {{id: string, folded: boolean, onPrint: function(HTMLElement): void}} options id: the card's
 *   element id (the results table links to it); folded: in a batch, the card starts folded, its answer in
 *   the line that unfolds it; onPrint: called with the card when its print button is pressed.
 * @returns {HTMLElement} the card, not yet on the page.
 */
export function resultCard(result, metadata, bitmap, {id, folded, onPrint}) {
  const {classes} = metadata;
  const card = element('article', result.error ? 'result failed' : 'result');
  card.id = id;
  const body = element('div', 'result-body');
  const title = element('h3', 'file-name', result.file);
  title.tabIndex = -1; // focusable by script: results.js focusResult
  body.append(title);
  if (result.error) {
    body.append(element('p', 'error', `Could not classify: ${result.error}`));
  } else {
    const topIndex = classes.findIndex((cls) => cls.id === result.top.id);
    // A picture that does not look like a lesion leads with that, not with an answer about it.
    // A picture that does not look like a lesion gets no answer in view: the warning, and the model's
    // answer folded away for whoever wants it anyway (the detector is wrong on about 1 lesion in 20).
    const notALesion = isNotALesion(result);
    const answer = notALesion ? element('details', 'answer-anyway') : body;
    if (notALesion) {
      body.append(scopeWarning(result.warnings), answer);
      answer.append(element('summary', '', 'Show the answer anyway (it means nothing unless this is a close-up ' +
        'of a skin lesion)'));
    }
    if (result.band) answer.append(triageBox(result, metadata));
    if (result.warnings.length && !notALesion) body.append(scopeWarning(result.warnings));
    answer.append(typeBreakdown(classes, result.classes.map((cls) => cls.probability), topIndex, result.band));
    const clinical = clinicalLine(result, metadata);
    if (clinical) body.append(element('p', 'clinical-used', clinical));
    body.append(element('p', 'timing', `Classified in ${Math.round(result.timing.modelMs)} ms`));
  }
  body.append(provenance(result, metadata));
  const print = element('button', 'button print-button', 'Print or save as PDF');
  print.type = 'button';
  print.setAttribute('aria-label', `Print or save as PDF: ${result.file}`);
  print.addEventListener('click', () => onPrint(card));
  body.append(print);
  const content = element('div', 'result-main');
  if (bitmap) content.append(photoFigure(bitmap, result, classes));
  content.append(body);
  if (folded) {
    // In a batch each card starts folded, its answer in the line that unfolds it.
    const fold = element('details', 'result-fold');
    fold.append(cardSummary(result), content);
    card.append(fold);
  } else {
    card.append(content);
  }
  return card;
}
