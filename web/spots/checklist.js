/**
 * What the person noticed, scored as NICE's weighted 7-point checklist (NICE NG12, 1.7.2: "consider a
 * suspected cancer pathway referral … for melanoma in people with a suspicious pigmented skin lesion with a
 * weighted 7-point checklist score of 3 or more"). Major features score 2, minor ones 1. A spot that is
 * new, or any change the person reports, also sends them to a doctor: change is the warning sign that
 * matters most, whatever the model says.
 *
 *   const {score, urgent, advice} = assess({sizeChange: true, inflammation: true});  // 3, true
 */

/** The items, in the order asked, with NICE's weights. `change`: a change the person reports. */
export const ITEMS = [
  {id: 'sizeChange', label: 'It has grown or changed in size', weight: 2, change: true},
  {id: 'shapeChange', label: 'Its shape has changed (irregular or uneven edge)', weight: 2, change: true},
  {id: 'colourChange', label: 'Its colour has changed (uneven, darker, several shades)', weight: 2, change: true},
  {id: 'diameter7', label: 'It is 7 mm across or more', weight: 1, change: false},
  {id: 'inflammation', label: 'It is inflamed (red, swollen)', weight: 1, change: false},
  {id: 'oozing', label: 'It oozes, bleeds or crusts', weight: 1, change: false},
  {id: 'sensation', label: 'It feels different (itchy, tender, painful)', weight: 1, change: true},
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
