// Cron parsing for BackupPolicy.spec.schedule, and the agreement between the full parser and the CEL shape.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CRON_SHAPE, isValidCron, isValidTimeZone, parseCron } from './cron.ts';
import { parseDuration } from './duration.ts';

const t = suite('api: cron and durations');

t('parses lists, ranges, steps, names and macros', () => {
  const s = parseCron('*/15 9-17 1,15 JAN-MAR mon-fri');
  assert.equal([...s.minutes], [0, 15, 30, 45]);
  assert.equal([...s.hours], [9, 10, 11, 12, 13, 14, 15, 16, 17]);
  assert.equal([...s.daysOfMonth], [1, 15]);
  assert.equal([...s.months], [1, 2, 3]);
  assert.equal([...s.daysOfWeek], [1, 2, 3, 4, 5]);
  assert.equal([...parseCron('@daily').hours], [0]);
  assert.equal([...parseCron('0 0 * * 7').daysOfWeek], [0], 'Sunday as 7');
  assert.equal([...parseCron('5/20 * * * *').minutes], [5, 25, 45], 'start/step runs to the end');
});

t('rejects out-of-range values and malformed fields, naming the field', () => {
  for (const [expr, msg] of [
    ['60 * * * *', /minute: 60 is outside 0-59/],
    ['0 24 * * *', /hour/],
    ['0 0 0 * *', /day of month/],
    ['0 0 1 13 *', /month/],
    ['0 0 * * 8', /day of week/],
    ['0 0 * * FUNDAY', /day of week/],
    ['*/0 * * * *', /step/],
    ['1,,2 * * * *', /empty list item/],
    ['5-1 * * * *', /backwards/],
    ['* * * *', /5 fields/],
    ['@sometimes', /unknown macro/],
  ] as const) {
    assert.throws(() => parseCron(expr), msg, expr);
    assert.not.ok(isValidCron(expr), expr);
  }
});

t('whatever the full parser accepts also passes the CEL shape the apiserver checks', () => {
  const shape = new RegExp(CRON_SHAPE);
  for (const expr of ['0 2 * * *', '*/5 * * * *', '0 0 1 JAN *', '@hourly', '0 0 ? * SUN', '30 1 1-7 * 1']) {
    assert.ok(isValidCron(expr), expr);
    assert.ok(shape.test(expr), expr);
  }
});

t('time zones are checked against the runtime\'s IANA database', () => {
  assert.ok(isValidTimeZone('Europe/Berlin'));
  assert.ok(isValidTimeZone('UTC'));
  assert.not.ok(isValidTimeZone('Europe/Atlantis'));
});

t('durations parse like Go\'s', () => {
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('250ms'), 250);
  assert.is(parseDuration('1.5s'), 1500);
  assert.throws(() => parseDuration('5 minutes'), /not a duration/);
});

t.run();
