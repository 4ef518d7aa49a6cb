/**
 * A calendar file (RFC 5545) reminding the person to photograph a spot again: one all-day event, with an
 * alarm that morning. Built as text here and downloaded; nothing is sent.
 *
 *   const text = reminder({spotName: 'Left shoulder', months: 3, from: new Date()});
 */

function escapeText(text) {
  return text.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\r?\n/g, '\\n');
}

/** Folds a content line at 75 octets (RFC 5545 3.1), never inside a UTF-8 character. */
function fold(line) {
  const encoder = new TextEncoder();
  const parts = [];
  let current = '';
  let octets = 0;
  for (const char of line) {
    const size = encoder.encode(char).length;
    const limit = parts.length ? 74 : 75; // a continuation line starts with a space
    if (octets + size > limit) {
      parts.push(current);
      current = '';
      octets = 0;
    }
    current += char;
    octets += size;
  }
  parts.push(current);
  return parts.join('\r\n ');
}

function dateValue(date) {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}

function stamp(date) {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** `from` plus `months` calendar months (the 31st becomes the month's last day). */
export function addMonths(from, months) {
  const date = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + months, 1));
  const last = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  date.setUTCDate(Math.min(from.getUTCDate(), last));
  return date;
}

/**
 * @param {{spotName: string, months: 1|3, from?: Date, uid?: string}} options
 * @returns {string} the .ics text, CRLF line ends.
 */
export function reminder({spotName, months, from = new Date(), uid = crypto.randomUUID()}) {
  const day = addMonths(from, months);
  const next = new Date(day.getTime() + 86_400_000);
  const summary = `Re-check skin spot: ${spotName}`;
  const description = `Photograph "${spotName}" again in SkinLens, in the same light and distance, with the same ` +
    'coin or ruler beside it, and compare it with the last photo. See a doctor sooner if it changes, bleeds or itches.';
  const lines = [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//SkinLens//Spot reminder//EN', 'CALSCALE:GREGORIAN', 'METHOD:PUBLISH',
    'BEGIN:VEVENT', `UID:${uid}@skinlens.local`, `DTSTAMP:${stamp(from)}`,
    `DTSTART;VALUE=DATE:${dateValue(day)}`, `DTEND;VALUE=DATE:${dateValue(next)}`,
    `SUMMARY:${escapeText(summary)}`, `DESCRIPTION:${escapeText(description)}`, 'TRANSP:TRANSPARENT',
    'BEGIN:VALARM', 'ACTION:DISPLAY', `DESCRIPTION:${escapeText(summary)}`, 'TRIGGER:PT9H', 'END:VALARM',
    'END:VEVENT', 'END:VCALENDAR',
  ];
  return lines.map(fold).join('\r\n') + '\r\n';
}
