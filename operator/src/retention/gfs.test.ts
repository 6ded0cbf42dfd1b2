import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { applyRetention, bucketOf, type PointInTime } from './gfs.ts';

const DAY = 86_400_000;
/** One point a day at 00:30 UTC for `days` days ending on 2026-11-27. */
function daily(days: number): PointInTime[] {
  const end = Date.parse('2026-11-27T00:30:00Z');
  return Array.from({ length: days }, (_, i) => ({ name: `rp-${String(days - 1 - i).padStart(4, '0')}`, capturedMs: end - i * DAY }));
}
const now = Date.parse('2026-11-27T12:00:00Z');

test('ISO weeks, months, years and days in a time zone', () => {
  assert.is(bucketOf(Date.parse('2026-01-01T12:00:00Z'), 'UTC', 'weekly'), '2026-W1');
  assert.is(bucketOf(Date.parse('2027-01-01T12:00:00Z'), 'UTC', 'weekly'), '2026-W53');
  assert.is(bucketOf(Date.parse('2024-12-30T12:00:00Z'), 'UTC', 'weekly'), '2025-W1');
  // 23:30 UTC on Nov 26 is already Nov 27 in Berlin.
  assert.is(bucketOf(Date.parse('2026-11-26T23:30:00Z'), 'Europe/Berlin', 'daily'), '2026-11-27');
  assert.is(bucketOf(Date.parse('2026-11-26T23:30:00Z'), 'UTC', 'daily'), '2026-11-26');
});

test('7 daily from a year of nightly points keeps exactly the last 7', () => {
  const d = applyRetention(daily(365), { daily: 7 }, { timeZone: 'UTC', nowMs: now });
  assert.is(d.keep.size, 7);
  assert.is(d.expire.length, 358);
  assert.ok(d.keep.has('rp-0364'), 'the newest is kept');
  assert.not.ok(d.keep.has('rp-0357'));
});

test('daily 7, weekly 4, monthly 12, yearly 2 over a year: the classic GFS count', () => {
  const d = applyRetention(daily(365), { daily: 7, weekly: 4, monthly: 12, yearly: 2 }, { timeZone: 'UTC', nowMs: now });
  // Daily: Nov 21-27 (7). Weekly: W48 and W47 are already kept by daily (Nov 27, Nov 22); W46 and W45 add
  // Nov 15 and Nov 8 (2). Monthly: Nov is kept; Oct 31 back to Dec 31 2025 add 11. Yearly: 2026 and
  // 2025 (Dec 31, already monthly). 7 + 2 + 11 = 20.
  assert.is(d.keep.size, 20);
  assert.equal(d.keep.get('rp-0352'), ['weekly 2026-W46']); // Nov 15 (12 days before Nov 27)
  assert.equal(d.keep.get('rp-0033'), ['monthly 2025-12', 'yearly 2025']); // Dec 31 2025 (331 days before)
  assert.is(d.keep.size + d.expire.length, 365);
  assert.ok(d.keep.get('rp-0364')!.includes('daily 2026-11-27'));
});

test('two points in one day: daily keeps the newer one only', () => {
  const points = [
    { name: 'morning', capturedMs: Date.parse('2026-11-27T06:00:00Z') },
    { name: 'evening', capturedMs: Date.parse('2026-11-27T18:00:00Z') },
    { name: 'yesterday', capturedMs: Date.parse('2026-11-26T18:00:00Z') },
  ];
  const d = applyRetention(points, { daily: 2 }, { timeZone: 'UTC', nowMs: now });
  assert.equal([...d.keep.keys()].sort(), ['evening', 'yesterday']);
  assert.equal(d.expire, ['morning']);
});

test('retainUntil in the future keeps a point no rule keeps; past retainUntil does not', () => {
  const points = daily(10).map((p) => (p.name === 'rp-0000' ? { ...p, retainUntilMs: now + DAY } : p.name === 'rp-0001' ? { ...p, retainUntilMs: now - DAY } : p));
  const d = applyRetention(points, { keepLast: 2 }, { timeZone: 'UTC', nowMs: now });
  assert.equal(d.keep.get('rp-0000'), ['retainUntil']);
  assert.ok(d.expire.includes('rp-0001'));
});

test('the newest point is never expired, even with nothing to keep', () => {
  const d = applyRetention(daily(3), {}, { timeZone: 'UTC', nowMs: now });
  assert.equal([...d.keep.entries()], [['rp-0002', ['newest']]]);
  assert.equal(d.expire, ['rp-0001', 'rp-0000']);
});

test('keepLast counts points, not days', () => {
  const d = applyRetention(daily(5), { keepLast: 3 }, { timeZone: 'UTC', nowMs: now });
  assert.equal([...d.keep.keys()], ['rp-0004', 'rp-0003', 'rp-0002']);
});

test.run();
