// Manifest files as the CLI reads them: Tresor objects validated and defaulted, others passed through,
// every problem reported with the document number, the object and the field path.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseManifests } from './manifests.ts';
import { createApiValidator } from './validate.ts';

const t = suite('api: manifests for the CLI');
const v = createApiValidator();

t('the S3 vault example: two Secrets passed through, one vault validated and defaulted', () => {
  const text = readFileSync(new URL('../../../crds/examples/backupvault-s3.yaml', import.meta.url), 'utf8');
  const r = parseManifests(text, v, 'backupvault-s3.yaml');
  assert.equal(r.errors, []);
  assert.is(r.others.length, 2);
  assert.is(r.objects.length, 1);
  const vault = r.objects[0]!;
  assert.is(vault.kind, 'BackupVault');
  if (vault.kind === 'BackupVault') assert.is(vault.spec.s3?.forcePathStyle, false);
});

t('errors name the source, the document, the object and the field', () => {
  const text = [
    'apiVersion: tresor.io/v1alpha1',
    'kind: BackupPolicy',
    'metadata: { name: nightly }',
    'spec:',
    '  schedule: "61 2 * * *"',
    '  vmSelector: {}',
    '  vaultRef: { name: offsite }',
    '  retention: { daily: -1, weekly: 2 }',
    '---',
    '---',
    'apiVersion: tresor.io/v1alpha1',
    'kind: Gadget',
    'metadata: { name: g }',
    'spec: {}',
    '---',
    '[1, 2]',
  ].join('\n');
  const r = parseManifests(text, v, 'policy.yaml');
  assert.equal(r.objects, []);
  assert.equal(r.errors, [
    'policy.yaml document 1: BackupPolicy "nightly" is invalid: spec.schedule: schedule must be a cron expression with five fields (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly',
    'policy.yaml document 1: BackupPolicy "nightly" is invalid: spec.retention.daily: must be >= 0',
    'policy.yaml document 3: Gadget "g" is invalid: kind: unknown kind Gadget',
    'policy.yaml document 4: expected an object with apiVersion and kind',
  ]);
});

t('broken YAML is reported, not thrown', () => {
  const r = parseManifests('kind: [unclosed', v, 'x.yaml');
  assert.is(r.errors.length, 1);
  assert.match(r.errors[0]!, /^x\.yaml document 1: not valid YAML/);
});

t.run();
