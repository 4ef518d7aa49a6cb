/**
 * The model card page (model-card.html): training data and licence, test metrics with their 95%
 * intervals, the screening threshold's figures and the out-of-scope check, all read from
 * model/metadata.json. Nothing here is a literal figure; a missing figure shows as "n/a".
 */
import {datasetOf, datasetsOf, fetchMetadata, scopeThresholds, screeningFigures} from './metadata.js';

const byId = (id) => document.getElementById(id);

/** A number for people: fractions as percentages when `asPercent`, else 3 significant digits. */
function format(value, asPercent = false) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return 'n/a';
  if (asPercent) return `${(value * 100).toFixed(1)}%`;
  return Number.isInteger(value) ? value.toLocaleString('en') : String(Number(value.toPrecision(3)));
}

/** A value with its 95% interval, e.g. "71.0% (68.2–73.9%)". */
function withInterval(value, interval, asPercent) {
  const text = format(value, asPercent);
  return Array.isArray(interval) ? `${text} (95% interval ${format(interval[0], asPercent)}–${format(interval[1], asPercent)})` : text;
}

/** Fills a <dl> with [term, description] pairs, skipping those without a description. */
function facts(list, pairs) {
  for (const [term, description] of pairs) {
    if (description === undefined || description === null || description === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = typeof description === 'object' ? JSON.stringify(description) : String(description);
    list.append(dt, dd);
  }
}

/** Fills a <table> with a header row and body rows of text; the first cell of each row is its header. */
function table(node, caption, header, rows) {
  const captionNode = node.createCaption();
  captionNode.textContent = caption;
  const head = node.createTHead().insertRow();
  for (const text of header) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    head.append(th);
  }
  const body = node.createTBody();
  for (const cells of rows) {
    const row = body.insertRow();
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? 'th' : 'td');
      if (i === 0) cell.scope = 'row';
      cell.textContent = text;
      row.append(cell);
    });
  }
}

function showModel(metadata) {
  const {model, input, classes} = metadata;
  facts(byId('model-facts'), [
    ['Name and version', `${model.name} ${model.version}`],
    ['Architecture', `${model.backbone?.architecture ?? 'n/a'} (alpha ${model.backbone?.alpha ?? 'n/a'}), ` +
      `${input.width}×${input.height} input`],
    ['Classes', classes.map((cls) => `${cls.name}${cls.malignant ? ' (cancer type)' : ''}`).join('; ')],
    ['Weights', `${model.quantization} quantization, ${format(model.total_bytes / 1e6)} MB` +
      (model.quantization_max_abs_diff != null ?
        `; largest probability change from the float32 model on the reference images: ${format(model.quantization_max_abs_diff)}` : '')],
  ]);
}

// The one-view model trained to give the 8-view model's answers (trainer/distil.py), as validation measured it.
function distilled(distil) {
  if (!distil) return null;
  const [teacher, student] = [distil.teacher_8_views.all, distil.student_1_view.all];
  return `${distil.epochs} epochs training this one-view model towards the answers of the same model in 8 views; ` +
    `on validation, balanced accuracy ${student.balanced_accuracy.toFixed(3)} against ` +
    `${teacher.balanced_accuracy.toFixed(3)}, malignant AUC ${student.malignant_auc.toFixed(3)} against ` +
    `${teacher.malignant_auc.toFixed(3)}`;
}

function showTraining(metadata) {
  const training = metadata.training ?? {};
  const config = training.config ?? {};
  const data = datasetOf(metadata);
  facts(byId('training-facts'), [
    ['Dataset', data.name ?? 'not named when the model was trained'],
    ['Citation', data.citation],
    ['Data folders', (training.data ?? []).join(', ')],
    ['Split', training.split],
    ['Class imbalance', training.imbalance?.chosen ?? config.imbalance],
    ['Fine-tuning', training.stage2 ? `${training.stage2.epochs} epochs of every layer above ${training.stage2.cut}, ` +
      `from ${training.stage2.views} augmented views of each training photo` : null],
    ['Distillation', distilled(training.distil)],
    ['Views per photo', metadata.model.views > 1 ?
      `${metadata.model.views} (the photo's flips and turns, averaged inside the model)` : null],
    ['Type shown', metadata.decision ? 'the best match after weighing rare types up to the common mole ' +
      `(logit adjustment, tau ${metadata.decision.tau}, chosen on validation)` : 'the most probable type'],
    ['Image size', config.image_size ? `${config.image_size} px` : null],
    ['Seed', config.seed],
  ]);
  // Who the data shows, where its reader knows it (metadata.datasets[].population), source by source.
  const sources = datasetsOf(metadata);
  const described = sources.filter((source) => source.population);
  byId('data-limit').textContent = described.length ?
    `${described.map((source) => `${source.name} holds ${source.population}`).join('; ')}. The model has not been ` +
    'shown to work on darker skin, on other populations, or on kinds of picture other than these.' :
    `${data.name ?? 'The training data'} is described by no more than its name here: the model has not been ` +
    'shown to work on images unlike it.';
  if (sources.length > 1) {
    facts(byId('training-facts'), sources.map((source) => [`Source: ${source.name ?? 'unnamed'}`,
      [source.citation, source.licence && `licence ${source.licence}`].filter(Boolean).join(' ')]));
  }
  const licence = metadata.licence ?? {};
  facts(byId('licence-facts'), [['Model licence', licence.model], ['Data', licence.data], ['Backbone', licence.backbone]]);
}

/** The keys (e.g. "per_class.mel.sensitivity") of the test figures resting on few images (the report's
 * few_cases, copied by the converter). */
function fewCaseKeys(metadata) {
  return new Set((metadata.metrics?.test?.few_cases ?? []).map((figure) => figure.key));
}

/** A figure, marked when it rests on few images (listed above the tables with its interval). */
function flagged(text, key, few) {
  return few.has(key) ? `${text} ⚠ few cases` : text;
}

/** The warning above the tables: each figure resting on few images, with its count and 95% interval. */
function showFewCases(test) {
  const few = test.few_cases ?? [];
  if (!few.length) return;
  byId('few-cases').hidden = false;
  byId('few-cases-intro').textContent = `⚠ ${few.length === 1 ? 'This figure rests' : 'These figures rest'} on ` +
    `fewer than ${format(test.few_cases_min)} test images each: read ${few.length === 1 ? 'it' : 'them'} with ` +
    'the 95% interval, not as a measured rate.';
  for (const figure of few) {
    const item = document.createElement('li');
    item.textContent = figure.n ? `${figure.label}: ${withInterval(figure.value, figure.interval_95, true)}, ` +
      `${format(figure.k)} of ${format(figure.n)} images` : `${figure.label}: no test image to measure it on`;
    byId('few-cases-list').append(item);
  }
}

function showMetrics(metadata) {
  const test = metadata.metrics?.test;
  if (!test) {
    byId('eval-intro').textContent = 'metadata.json holds no test metrics for this model.';
    return;
  }
  const ci = test.intervals_95 ?? {};
  byId('eval-intro').textContent = `Held-out test split: ${format(test.n)} images` +
    (test.n_lesions ? ` of ${format(test.n_lesions)} lesions` : '') + ' never used in training or tuning.';
  showFewCases(test);
  const few = fewCaseKeys(metadata);
  // The head-only model's figures, beside the fine-tuned one's; a model without stage 2 *is* that model.
  const stage1 = metadata.training?.stage2 ? metadata.metrics?.stage1_test : null;
  // [label, key in metrics.test (and stage1_test, intervals_95), shown as a percentage]
  const summary = [
    ['Accuracy', 'accuracy', true],
    ['Balanced accuracy (mean sensitivity over classes)', 'balanced_accuracy', true],
    ['Macro F1', 'macro_f1', false],
    ['Macro AUC', 'macro_auc', false],
    ['Expected calibration error', 'ece', false],
    ['Expected calibration error before temperature scaling', 'ece_before_temperature', false],
  ];
  const rows = summary.map(([label, key, asPercent]) => [label, withInterval(test[key], ci[key], asPercent),
    ...(stage1 ? [format(stage1[key], asPercent)] : [])]);
  table(byId('summary-metrics'), 'Test-split summary',
    stage1 ? ['Metric', 'Shipped model', 'Head only, before fine-tuning'] : ['Metric', 'Value'], rows);

  const names = Object.fromEntries(metadata.classes.map((cls) => [cls.id, cls.name]));
  table(byId('class-metrics'), 'Per class, test split',
    ['Class', 'Precision', 'Sensitivity', 'Specificity', 'F1', 'AUC', 'Images'],
    Object.entries(test.per_class ?? {}).map(([id, m]) => [names[id] ?? id, format(m.precision, true),
      flagged(format(m.sensitivity, true), `per_class.${id}.sensitivity`, few),
      flagged(format(m.specificity, true), `per_class.${id}.specificity`, few), format(m.f1), format(m.auc),
      format(m.support)]));
}

function showScreening(metadata) {
  const screening = metadata.screening;
  const figures = screeningFigures(metadata);
  if (!screening || !figures) {
    byId('screening-intro').textContent = 'This model has no validated threshold: results show no concern level.';
    return;
  }
  const names = screening.malignant_classes.map((id) => metadata.classes.find((cls) => cls.id === id)?.name ?? id);
  byId('screening-intro').textContent = `The risk score is the sum of the probabilities of ${names.join(', ')}. ` +
    `A score of ${format(screening.threshold, true)} or more is “higher concern”. The threshold was chosen on the ` +
    `validation split to catch ${format(screening.target_sensitivity, true)} of cancers` +
    (screening.temperature ? `; probabilities are calibrated by temperature scaling (T = ${format(screening.temperature)}).` : '.');
  const ci = metadata.metrics?.test?.intervals_95 ?? {};
  const few = fewCaseKeys(metadata);
  // Only the test row's figures are the report's (few_cases keys "malignant.*").
  const row = (label, split, intervals = {}, keys = {}) => split ? [label,
    flagged(withInterval(split.sensitivity, intervals.sensitivity, true), keys.sensitivity, few),
    flagged(withInterval(split.specificity, intervals.specificity, true), keys.specificity, few),
    withInterval(split.auc, intervals.auc), `${format(split.n_malignant)} / ${format(split.n_benign)}`] : null;
  table(byId('screening-metrics'), 'Cancer versus harmless, at the threshold',
    ['Split', 'Sensitivity (cancers caught)', 'Specificity (harmless cleared)', 'AUC', 'Cancers / harmless'],
    [row('Validation', screening.validation),
      row('Test', screening.test, {sensitivity: ci.malignant_sensitivity, specificity: ci.malignant_specificity,
        auc: ci.malignant_auc}, {sensitivity: 'malignant.sensitivity', specificity: 'malignant.specificity'}),
    ].filter(Boolean));
  showRiskBins(screening);
}

/** screening.risk_bins (and the photo-only ones): the score ranges the result cards speak of. */
function showRiskBins(screening) {
  const sets = [['with the answers given', screening.risk_bins],
    ['with age, sex and site left blank', screening.without_clinical?.risk_bins]].filter(([, bins]) => bins?.length);
  if (!sets.length) return;
  const {n_malignant: cancers, n_benign: harmless} = screening.validation;
  byId('bins-intro').textContent = 'What a result tells a person about its score: of the validation images that ' +
    `scored in each range, how many were a skin cancer. Of all ${format(cancers + harmless)} validation images ` +
    `${format(cancers / (cancers + harmless), true)} were; among the spots people check in everyday life fewer are, ` +
    'so there the counts would be lower.';
  byId('bins-intro').hidden = false;
  const rows = sets.flatMap(([label, bins]) => bins.map((bin) => [
    `${format(bin.from)}–${format(bin.to)} ${label}`,
    bin.from >= (label.includes('blank') ? screening.without_clinical.threshold : screening.threshold) ?
      'higher' : 'lower',
    `${format(bin.malignant)} of ${format(bin.n)}`,
    bin.rate === null ? '—' : withInterval(bin.rate, bin.interval_95, true)]));
  table(byId('risk-bins'), 'Validation images by score range',
    ['Score range', 'Concern level', 'Skin cancers', 'Share (95% interval)'], rows);
}

/**
 * Each kind of picture the model tells apart (metadata.picture_kinds, screening.by_kind): the threshold chosen
 * on the validation pictures the model judged to be of that kind, and the test figures of the pictures of that
 * kind (trainer/kinds.py measure), with their 95% intervals.
 */
function showKinds(metadata) {
  const byKind = metadata.screening?.by_kind;
  if (!byKind || !metadata.picture_kinds) return;
  byId('kinds-section').hidden = false;
  const names = Object.fromEntries(metadata.picture_kinds.map((kind) => [kind.id, kind.name]));
  byId('kinds-intro').textContent = 'The model also says what kind of picture it was shown. Each kind has its ' +
    'own threshold, chosen on the validation pictures of that kind to catch ' +
    `${format(metadata.screening.target_sensitivity, true)} of cancers, its own score ranges and its own figures, ` +
    'measured on test pictures of that kind (whatever kind the model judged them to be).';
  const rows = Object.entries(byKind).map(([id, entry]) => {
    const t = entry.test ?? {};
    const ci = t.intervals_95 ?? {};
    return [names[id] ?? id, format(entry.threshold),
      t.n != null ? `${format(t.n)} (${format(t.n_groups)} people or lesions)` : 'n/a',
      t.answered != null ? format(t.answered, true) : 'n/a',
      withInterval(t.sensitivity, t.sensitivity_wilson_95, true), withInterval(t.specificity, ci.malignant_specificity, true),
      withInterval(t.malignant_auc, ci.malignant_auc), withInterval(t.balanced_accuracy, ci.balanced_accuracy, true),
      t.n_malignant != null ? `${format(t.n_malignant)} / ${format(t.n_benign)}` : 'n/a'];
  });
  table(byId('kind-metrics'), 'Test pictures of each kind, at that kind\'s threshold',
    ['Kind of picture', 'Threshold', 'Test pictures', 'Answered (no warning)', 'Sensitivity (cancers caught)',
      'Specificity (harmless cleared)', 'Cancer AUC', 'Balanced accuracy', 'Cancers / harmless'], rows);
  const notes = byId('kinds-notes');
  for (const [id, entry] of Object.entries(byKind)) {
    const judged = entry.test?.judged_as?.[id];
    const lines = [];
    if (judged != null) lines.push(`${format(judged, true)} of the test ${names[id] ?? id}s were judged to be one.`);
    if (entry.few_cancers) {
      lines.push(`Its threshold rests on only ${format(entry.n_validation_cancers)} validation cancers, so it ` +
        'takes the lower (more cautious) of its own and the shared one, and its cards say the figures are rough.');
    }
    if (!lines.length) continue;
    const item = document.createElement('li');
    item.textContent = `${names[id] ?? id}: ${lines.join(' ')}`;
    notes.append(item);
  }
}

/** The clinical input, and the test split with and without it (metadata.clinical, written by the trainer). */
function showClinical(metadata) {
  const clinical = metadata.clinical;
  if (!clinical) return;
  byId('clinical-section').hidden = false;
  const labels = clinical.fields.filter((field) => field.about !== 'spot').map((field) => field.label.toLowerCase());
  const questions = clinical.fields.filter((field) => field.about === 'spot').map((field) => `“${field.label}”`);
  let fields = labels.length > 1 ? `${labels.slice(0, -1).join(', ')} and ${labels.at(-1)}` : labels.join('');
  if (questions.length) fields += `, and ${questions.length} questions about the spot: ${questions.join(' ')}`;
  byId('clinical-intro').textContent = `The page asks, optionally, for ${fields}. They move each type's odds as ` +
    'a model of the metadata alone learnt them from the training split (scaled by ' +
    `${format(clinical.scale)}, chosen on validation); left blank, the answer is the photo's alone. ` +
    'They never leave the page.';
  const names = {image_only: 'Photo-only model', with_metadata: 'This model, fields filled in',
    metadata_missing: 'This model, fields left blank', without_questions: 'This model, age, sex and site only'};
  const rows = Object.entries(clinical.test ?? {}).map(([key, m]) => {
    const ci = m.intervals_95 ?? {};
    return [names[key] ?? key, withInterval(m.balanced_accuracy, ci.balanced_accuracy, true),
      withInterval(m.malignant_auc, ci.malignant_auc), withInterval(m.specificity, ci.malignant_specificity, true),
      withInterval(m.sensitivity, ci.malignant_sensitivity, true)];
  });
  table(byId('clinical-metrics'), `Test split: the same photos with and without ${questions.length ?
    'the answers' : 'age, sex and body site'}`,
    ['Model', 'Balanced accuracy', 'Cancer AUC', 'Specificity (harmless cleared)', 'Sensitivity (cancers caught)'],
    rows);
}

/** [term, text] for every entry of the scope block beyond its four thresholds (e.g. measured, flag rates). */
function measurements(scope) {
  const thresholds = new Set(['out_of_scope_threshold', 'distance_threshold', 'blur_threshold', 'confidence_threshold',
    'min_side']);
  const words = (key) => key.replaceAll('_', ' ');
  const text = (key, value) => (typeof value === 'number' ? format(value, /rate|fraction/.test(key)) :
    JSON.stringify(value));
  return Object.entries(scope ?? {}).filter(([key]) => !thresholds.has(key)).flatMap(([key, value]) =>
    (value && typeof value === 'object' && !Array.isArray(value) ?
      Object.entries(value).map(([inner, v]) => [`${words(key)}: ${words(inner)}`, text(key, v)]) :
      [[words(key), text(key, value)]]));
}

function showScope(metadata) {
  const t = scopeThresholds(metadata);
  byId('scope-intro').textContent = t.source === 'metadata' ?
    'Each result warns when the photo looks out of scope: not a close-up of a lesion (the model\'s not-a-lesion ' +
    'output, learnt from its training lesions against photos, text, screenshots, microscopy, patterns and bare ' +
    'skin), not like a dermoscopic close-up (a large feature distance: the model\'s features far from those of ' +
    'its training images, where it is about 1), blurred (low variance of the Laplacian), very small, or, for a ' +
    'model without the not-a-lesion output, no confident class.' :
    'This model has no measured out-of-scope thresholds: results warn only when no class is confident ' +
    'and when the image is smaller than the model\'s input.';
  facts(byId('scope-facts'), [
    ['Not-a-lesion threshold', t.out_of_scope_threshold != null ? format(t.out_of_scope_threshold) : null],
    ['Feature distance threshold', t.distance_threshold != null ? format(t.distance_threshold) : null],
    ['Blur threshold', t.blur_threshold != null ? format(t.blur_threshold) : null],
    ['Confidence threshold', t.confidence_threshold != null ? format(t.confidence_threshold, true) : null],
    ['Smallest side', t.min_side != null ? `${t.min_side} px` : null],
    ...measurements(metadata.scope),
  ]);
}

async function main() {
  const status = byId('card-status');
  try {
    const metadata = await fetchMetadata(new URL('model/', document.baseURI));
    showModel(metadata);
    showTraining(metadata);
    showMetrics(metadata);
    showScreening(metadata);
    showKinds(metadata);
    showClinical(metadata);
    showScope(metadata);
    status.textContent = `Model ${metadata.model.version}.`;
    status.dataset.state = 'ready';
  } catch (error) {
    status.textContent = `Could not read the model's metadata: ${error.message}`;
    status.dataset.state = 'error';
  }
}

main();
