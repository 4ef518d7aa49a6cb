/**
 * What the person noticed, scored as NICE's weighted 7-point checklist (NICE NG12, 1.7.2: "consider a
 * suspected cancer pathway referral … for melanoma in people with a suspicious pigmented skin lesion with a
 * weighted 7-point checklist score of 3 or more"). Major features score 2, minor ones 1. A spot that is
 * new, or any change the person reports, also sends them to a doctor: change is the warning sign that
 * matters most, whatever the model says.
 *
 *   const {score, urgent, advice} = assess({sizeChange: true, inflammation: true});  // 3, true
 *   const {checked, said} = fromAnswers({grown: 'yes', changed: 'yes'});  // the page's questions, on a kept photo
 */

/**
 * The items, in the order asked, with NICE's weights. `change`: a change the person reports. `questions`: the
 * questions about the spot that a model trained with them asks beside the photo (metadata.json's clinical
 * fields about the spot; trainer/clinical.py QUESTIONS), whose "yes" is this item. "Has it changed in shape
 * or colour?" is two of NICE's items; diameter and inflammation are asked here only.
 */
export const ITEMS = [
  {id: 'sizeChange', label: 'It has grown or changed in size', weight: 2, change: true, questions: ['grown']},
  {id: 'shapeChange', label: 'Its shape has changed (irregular or uneven edge)', weight: 2, change: true,
    questions: ['changed']},
  {id: 'colourChange', label: 'Its colour has changed (uneven, darker, several shades)', weight: 2, change: true,
    questions: ['changed']},
  {id: 'diameter7', label: 'It is 7 mm across or more', weight: 1, change: false, questions: []},
  {id: 'inflammation', label: 'It is inflamed (red, swollen)', weight: 1, change: false, questions: []},
  {id: 'oozing', label: 'It oozes, bleeds or crusts', weight: 1, change: false, questions: ['bled']},
  {id: 'sensation', label: 'It feels different (itchy, tender, painful)', weight: 1, change: true,
    questions: ['itches', 'hurts']},
];

/** Not in NICE's score, asked beside it: a new spot in an adult is itself a reason to be seen. */
export const NEW_ITEM = {id: 'isNew', label: 'It is new in the last few months'};

/** NICE NG12's referral threshold on the weighted score. */
export const REFER_AT = 3;

export const SEE_A_DOCTOR = 'See a doctor within two weeks about this spot, whatever SkinLens\'s answer says.';

/**
 * Scores one visit's answers.
 *
 * @param {{[id: string]: boolean}} answers ITEMS' and NEW_ITEM's ids; a missing one is "no".
 * @returns {{score: number, changed: boolean, urgent: boolean, advice: string|null, reasons: string[]}}
 *   urgent when the score is REFER_AT or more, a change is reported, or the spot is new.
 */
export function assess(answers) {
  const yes = ITEMS.filter((item) => answers[item.id]);
  const score = yes.reduce((sum, item) => sum + item.weight, 0);
  const changed = yes.some((item) => item.change);
  const reasons = [];
  if (score >= REFER_AT) reasons.push(`a checklist score of ${score} (${REFER_AT} or more)`);
  if (changed) reasons.push('a change you noticed');
  if (answers[NEW_ITEM.id]) reasons.push('a new spot');
  const urgent = reasons.length > 0;
  return {score, changed, urgent, advice: urgent ? SEE_A_DOCTOR : null, reasons};
}

/**
 * What the answers given with a photo say of the checklist, as it starts for that visit. A "yes" to a question
 * that is one item ticks it; a "yes" to one that is two items ("changed": shape or colour) ticks neither and
 * asks the person which, since the score would count it twice; "no" and unanswered questions tick nothing.
 *
 * @param {{[field: string]: number|string}} answers the answers the photo's answer used (result.clinical).
 * @returns {{checked: {[id: string]: true}, said: {[id: string]: string}}} the items ticked, and for each item
 *   a "yes" speaks of, what to say beside it.
 */
export function fromAnswers(answers) {
  const checked = {};
  const said = {};
  for (const item of ITEMS) {
    const yes = item.questions.filter((name) => answers?.[name] === 'yes');
    if (!yes.length) continue;
    const shared = yes.every((name) => ITEMS.some((other) => other !== item && other.questions.includes(name)));
    if (shared) {
      said[item.id] = 'you said it changed in shape or colour when you checked this photo: tick which';
    } else {
      checked[item.id] = true;
      said[item.id] = 'ticked from your answer when you checked this photo';
    }
  }
  return {checked, said};
}
