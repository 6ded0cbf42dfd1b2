// ajv with the CRDs' own schemas: every example and fixture is valid, every bad object of the shared table
// that ajv can judge (all but changes to stored objects) is rejected naming the same field the apiserver
// names, and defaults are filled in as the apiserver fills them.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { GROUP } from './constants.ts';
import { backup, badCases, namesField, policy, recoveryPoint, restore, vault } from './fixtures.ts';
import { createApiValidator } from './validate.ts';

const t = suite('api: validation with ajv');
const v = createApiValidator();
const examples = fileURLToPath(new URL('../../../crds/examples/', import.meta.url));

t('every Tresor object in crds/examples is valid', () => {
  let n = 0;
  for (const f of readdirSync(examples).filter((x) => x.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(examples + f, 'utf8'))) {
      const o = doc.toJS() as { apiVersion: string };
      if (!o.apiVersion.startsWith(`${GROUP}/`)) continue;
      const r = v.validate(o);
      assert.equal(r.errors, [], `${f}`);
      n++;
    }
  }
  assert.ok(n >= 5);
});

t('the fixture builders make valid objects', () => {
  for (const o of [vault(), policy(), backup(), recoveryPoint(), restore()]) assert.equal(v.validate(o).errors, [], o.kind);
});

for (const c of badCases()) {
  if (c.operation === 'update') {
    t(`changes to stored objects are the apiserver's to judge: ${c.name}`, () => {
      assert.ok(v.validate(c.object).ok, 'the original is valid');
    });
    continue;
  }
  t(`rejected naming ${c.path}: ${c.name}`, () => {
    const r = v.validate(c.operation === 'status' ? c.changed : c.object);
    assert.not.ok(r.ok);
    const text = r.errors.map((e) => `${e.path}: ${e.message}`).join('\n');
    assert.ok(r.errors.some((e) => e.path === c.path), `an error at ${c.path}:\n${text}`);
    assert.ok(namesField(text, c.path));
    for (const m of c.mentions ?? []) assert.ok(text.includes(m), `says "${m}":\n${text}`);
  });
}

t('ajv checks more than the CEL shape: cron values and real time zones', () => {
  const bad = (edit: (s: Record<string, unknown>) => void): string[] => {
    const p = policy();
    edit(p.spec);
    return v.validate(p).errors.map((e) => e.path);
  };
  assert.equal(bad((s) => (s.schedule = '61 * * * *')), ['spec.schedule'], 'minute 61 passes the CEL shape only');
  assert.equal(bad((s) => (s.schedule = '0 0 31 2-1 *')), ['spec.schedule'], 'backwards range');
  assert.equal(bad((s) => (s.timeZone = 'Mars/Olympus_Mons')), ['spec.timeZone'], 'an unknown zone with a valid shape');
  assert.equal(bad((s) => (s.schedule = '*/15 9-17 * JAN-MAR mon-fri')), ['spec'], 'more than hourly needs the opt-in');
  assert.equal(bad((s) => Object.assign(s, { schedule: '*/15 9-17 * JAN-MAR mon-fri', allowFrequentSchedule: true })), []);
  assert.equal(bad((s) => (s.schedule = '30 */2 * * *')), [], 'a single minute is at most hourly');
  assert.equal(bad((s) => (s.transfer = { bandwidthLimit: '1' })), ['spec.transfer.bandwidthLimit'], 'a few bytes a second');
  assert.equal(bad((s) => (s.transfer = { bandwidthLimit: '1M' })), []);
  assert.equal(bad((s) => (s.transfer = { bandwidthLimit: '999k' })), ['spec.transfer.bandwidthLimit']);
  assert.equal(bad((s) => (s.timeZone = 'US/Eastern')), ['spec.timeZone'], 'links: write the canonical name');
  assert.equal(bad((s) => (s.timeZone = 'America/Argentina/Buenos_Aires')), []);
});

t('unknown kinds and missing kinds are errors, not crashes', () => {
  assert.equal(v.validate({ kind: 'Gadget' }).errors, [{ path: 'kind', message: 'unknown kind Gadget' }]);
  assert.equal(v.validate(null).errors, [{ path: 'kind', message: 'must be a string' }]);
});

t('withDefaults fills what the apiserver would, without touching the input', () => {
  const p = policy();
  const d = v.withDefaults(p);
  assert.is(p.spec.timeZone, undefined);
  assert.is(d.spec.timeZone, 'UTC');
  assert.is(d.spec.consistency, 'CrashConsistent');
  assert.is(d.spec.freezeTimeout, '60s');
  assert.is(d.spec.suspend, false);
  assert.equal((d.spec.hooks as { pre: Record<string, unknown> }).pre.onError, 'Continue');
  const vd = v.withDefaults(vault());
  assert.is((vd.spec.encryption as { keySecretRef: { key: string } }).keySecretRef.key, 'key');
  assert.is((vd.spec.s3 as { region: string }).region, 'us-east-1');
});

t.run();
