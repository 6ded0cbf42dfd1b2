import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseCron } from '../api/cron.ts';
import { dueSlots, nextSlot } from './slots.ts';

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
const at = (s: string): number => Date.parse(s);

test('daily at 01:30 Berlin: winter is UTC+1, summer UTC+2', () => {
  const s = parseCron('30 1 * * *');
  assert.is(iso(nextSlot(s, 'Europe/Berlin', at('2026-11-27T12:00:00Z'))), '2026-11-28T00:30:00.000Z');
  assert.is(iso(nextSlot(s, 'Europe/Berlin', at('2026-07-01T12:00:00Z'))), '2026-07-01T23:30:00.000Z');
});

test('strictly after: a slot equal to the instant is not returned', () => {
  const s = parseCron('0 * * * *');
  assert.is(iso(nextSlot(s, 'UTC', at('2026-11-27T05:00:00Z'))), '2026-11-27T06:00:00.000Z');
});

test('day-of-week and day-of-month: either matches when both are restricted (cron rule)', () => {
  const s = parseCron('0 12 1 * MON'); // the 1st of the month, or any Monday
  assert.is(iso(nextSlot(s, 'UTC', at('2026-11-27T00:00:00Z'))), '2026-11-30T12:00:00.000Z'); // Monday 30th
  assert.is(iso(nextSlot(s, 'UTC', at('2026-11-30T13:00:00Z'))), '2026-12-01T12:00:00.000Z'); // the 1st
});

test('spring forward: 02:30 does not exist in Berlin on 2026-03-29 and is skipped', () => {
  const s = parseCron('30 2 * * *');
  assert.is(iso(nextSlot(s, 'Europe/Berlin', at('2026-03-28T12:00:00Z'))), '2026-03-30T00:30:00.000Z');
});

test('fall back: 02:30 happens twice in Berlin on 2026-10-25 and fires once', () => {
  const s = parseCron('30 2 * * *');
  const first = nextSlot(s, 'Europe/Berlin', at('2026-10-24T12:00:00Z'));
  assert.is(iso(first), '2026-10-25T00:30:00.000Z');
  assert.is(iso(nextSlot(s, 'Europe/Berlin', first!)), '2026-10-26T01:30:00.000Z');
});

test('midnight slots survive a spring-forward day (no jump past 00:xx)', () => {
  const s = parseCron('15 0 * * *');
  assert.is(iso(nextSlot(s, 'Europe/Berlin', at('2026-03-28T12:00:00Z'))), '2026-03-28T23:15:00.000Z');
  assert.is(iso(nextSlot(s, 'Europe/Berlin', at('2026-03-29T12:00:00Z'))), '2026-03-29T22:15:00.000Z');
});

test('every 5 minutes on weekdays in New York', () => {
  const s = parseCron('*/5 9-17 * * 1-5');
  assert.is(iso(nextSlot(s, 'America/New_York', at('2026-11-27T22:58:00Z'))), '2026-11-30T14:00:00.000Z');
  assert.is(iso(nextSlot(s, 'America/New_York', at('2026-11-30T14:00:00Z'))), '2026-11-30T14:05:00.000Z');
});

test('a schedule that never fires yields no slot instead of looping', () => {
  assert.is(nextSlot(parseCron('0 0 30 2 *'), 'UTC', at('2026-01-01T00:00:00Z')), undefined);
});

test('due: the latest missed slot runs once; older ones are only counted', () => {
  const s = parseCron('0 * * * *');
  const d = dueSlots(s, 'UTC', { lastMs: at('2026-11-27T01:00:00Z'), nowMs: at('2026-11-27T05:10:00Z'), startingDeadlineMs: 30 * 60_000 });
  assert.is(iso(d.run), '2026-11-27T05:00:00.000Z');
  assert.is(d.missed, 3);
  assert.is(iso(d.next), '2026-11-27T06:00:00.000Z');
});

test('due: a slot older than the starting deadline is not run', () => {
  const s = parseCron('0 3 * * *');
  const d = dueSlots(s, 'UTC', { lastMs: at('2026-11-26T03:00:00Z'), nowMs: at('2026-11-27T05:00:00Z'), startingDeadlineMs: 60 * 60_000 });
  assert.is(d.run, undefined);
  assert.is(d.missed, 1);
});

test('due: nothing due before the first slot', () => {
  const s = parseCron('0 3 * * *');
  const d = dueSlots(s, 'UTC', { lastMs: at('2026-11-27T03:00:00Z'), nowMs: at('2026-11-27T04:00:00Z'), startingDeadlineMs: 60 * 60_000 });
  assert.equal([d.run, d.missed, iso(d.next)], [undefined, 0, '2026-11-28T03:00:00.000Z']);
});

test.run();
