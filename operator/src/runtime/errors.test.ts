// One classifier decides control flow; these cases pin what each kind of failure leads to.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ApiException } from '@kubernetes/client-node';
import { classifyError, isConflict, isNotFound, PrerequisiteMissingError, TerminalError, TransientError, wrapError } from './errors.ts';

test('typed errors classify as themselves', () => {
  assert.is(classifyError(new TransientError('x')), 'transient');
  assert.is(classifyError(new TerminalError('x')), 'terminal');
  assert.is(classifyError(new PrerequisiteMissingError('x')), 'prerequisite-missing');
});

test('API errors classify by HTTP status: invalid requests are terminal, the rest retried', () => {
  const api = (code: number): ApiException<unknown> => new ApiException(code, 'm', {}, {});
  assert.is(classifyError(api(422)), 'terminal');
  assert.is(classifyError(api(400)), 'terminal');
  for (const code of [409, 429, 500, 503, 403, 404]) assert.is(classifyError(api(code)), 'transient', String(code));
  assert.ok(isConflict(api(409)));
  assert.ok(isNotFound(api(404)));
  assert.not.ok(isNotFound(new Error('404')));
});

test('unknown errors (network resets, bugs) are transient, never silently dropped', () => {
  assert.is(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), 'transient');
  assert.is(classifyError(new TypeError('x is undefined')), 'transient');
  assert.is(classifyError('a string'), 'transient');
});

test('wrapError says what was being done, keeps the cause and its class', () => {
  const cause = new TerminalError('spec.vault is empty', { reason: 'InvalidSpec' });
  const w = wrapError('reconciling ns/job', cause);
  assert.is(w.message, 'reconciling ns/job: spec.vault is empty');
  assert.is(w.cause, cause);
  assert.is(classifyError(w), 'terminal');
  assert.is(w.reason, 'InvalidSpec');
  const p = wrapError('reading vault', new PrerequisiteMissingError('vault v not found', { retryAfterMs: 5000 }));
  assert.instance(p, PrerequisiteMissingError);
  assert.is((p as PrerequisiteMissingError).retryAfterMs, 5000);
  assert.is(classifyError(wrapError('listing', new ApiException(503, 'm', {}, {}))), 'transient');
});

test.run();
