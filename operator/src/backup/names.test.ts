import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_NAME_LENGTH, childName, jobChildNames, scheduledJobName } from './names.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

test('short names are the parts joined, sanitized', () => {
  assert.is(childName('nightly', 'Web_01', 'rootdisk'), 'nightly-web-01-rootdisk');
});

test('the same inputs always give the same names', () => {
  const a = jobChildNames('nightly-web-202611270200');
  const b = jobChildNames('nightly-web-202611270200');
  assert.is(a.volumeSnapshot('data'), b.volumeSnapshot('data'));
  assert.is(a.transferPod('data', 2), 'nightly-web-202611270200-data-xfer-2');
  assert.is(a.sourcePvc('data'), 'nightly-web-202611270200-data-src');
});

test('long names are cut to a DNS label and stay distinct', () => {
  const long = 'a'.repeat(60);
  const x = childName(long, 'disk-one');
  const y = childName(long, 'disk-two');
  for (const n of [x, y]) {
    assert.ok(n.length <= MAX_NAME_LENGTH, `${n} is ${n.length} long`);
    assert.match(n, DNS_LABEL);
  }
  assert.is.not(x, y);
});

test('a scheduled job name is deterministic per policy, VM and minute', () => {
  const slot = new Date('2026-11-27T02:00:30Z');
  assert.is(scheduledJobName('nightly', 'web', slot), 'nightly-web-202611270200');
  assert.is(scheduledJobName('nightly', 'web', new Date('2026-11-27T02:00:59Z')), 'nightly-web-202611270200');
  assert.is.not(scheduledJobName('nightly', 'web', new Date('2026-11-28T02:00:00Z')), 'nightly-web-202611270200');
});

test.run();
