import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { transferAttempts } from './retries.ts';

test('transfer attempts: the policy\'s maxRetries + 1, capped by the global limit; no maxRetries means the global limit', () => {
  assert.is(transferAttempts(2, 3), 3);
  assert.is(transferAttempts(0, 3), 1);
  assert.is(transferAttempts(1, 3), 2);
  assert.is(transferAttempts(10, 3), 3);
  assert.is(transferAttempts(undefined, 3), 3);
  assert.is(transferAttempts(-1, 3), 3);
  assert.is(transferAttempts(5, 0), 1, 'at least one pod');
});

test.run();
