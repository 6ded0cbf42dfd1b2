// Tresor's CRDs against the real kube-apiserver: the checked-in CRDs install; every example in
// crds/examples is accepted (server dry-run, then created for real); every bad object in the shared
// table is rejected with a message that names the offending field; `kubectl explain` teaches from the
// descriptions; `kubectl get tresor` lists every kind with useful columns.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { backup, badCases, namesField, policy, recoveryPoint, restore, vault, type BadCase, type TresorObject } from '../../operator/src/api/fixtures.ts';
import { installCrds } from '../../operator/src/api/install.ts';
import { createApiValidator } from '../../operator/src/api/validate.ts';
import { ALL_KINDS, kindDefinition } from '../../operator/src/api/kinds.ts';
import { GROUP } from '../../operator/src/api/constants.ts';
import { createNamespace, deleteNamespace, eventually, kubectl, type KubectlResult } from '../harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const examplesDir = join(root, 'crds/examples');
const t = suite<{ ns: string }>('api: CRDs on the real apiserver', { ns: '' });

const resource = (kind: string): string => `${kindDefinition(kind).plural}.${GROUP}`;

function must(r: KubectlResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr}`);
  return r.stdout;
}

t.before(async (ctx) => {
  await installCrds((args) => kubectl(args));
  ctx.ns = await createNamespace('api-crds');
});

t.after(async (ctx) => {
  if (ctx.ns) await deleteNamespace(ctx.ns);
});

t('the checked-in CRDs are structural and accepted: NonStructuralSchema is never reported', () => {
  for (const k of ALL_KINDS) {
    const out = must(kubectl(['get', `crd/${k.plural}.${GROUP}`, '-o', 'jsonpath={.status.conditions[*].type}']), 'reading the CRD');
    assert.not.match(out, /NonStructuralSchema/, `${k.kind}: ${out}`);
    assert.match(out, /Established/);
  }
});

t('every example is accepted: first by a server-side dry run, then created for real', (ctx) => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= ALL_KINDS.length, 'one example per kind at least');
  const kindsSeen = new Set<string>();
  for (const f of files) {
    const path = join(examplesDir, f);
    must(kubectl(['create', '--dry-run=server', '-f', path], { namespace: ctx.ns }), `dry-run create of ${f}`);
    must(kubectl(['create', '-f', path], { namespace: ctx.ns }), `create of ${f}`);
    for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) kindsSeen.add(String((doc.toJS() as { kind: string }).kind));
  }
  for (const k of ALL_KINDS) assert.ok(kindsSeen.has(k.kind), `an example of ${k.kind}`);
});

t('the apiserver fills in the schema defaults', (ctx) => {
  const spec = JSON.parse(must(kubectl(['get', `${resource('BackupVault')}/onsite`, '-o', 'jsonpath={.spec}'], { namespace: ctx.ns }), 'get vault'));
  assert.is(spec.encryption.keySecretRef.key, 'key');
  const b = JSON.parse(must(kubectl(['get', `${resource('VirtualMachineBackup')}/web-1-before-upgrade`, '-o', 'jsonpath={.spec}'], { namespace: ctx.ns }), 'get backup'));
  assert.is(b.forceFull, true);
});

t('the apiserver and ajv fill in the same defaults for every example', (ctx) => {
  const v = createApiValidator();
  for (const f of readdirSync(examplesDir).filter((x) => x.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(readFileSync(join(examplesDir, f), 'utf8'))) {
      const o = doc.toJS() as TresorObject;
      if (!o.apiVersion.startsWith(`${GROUP}/`)) continue;
      const live = JSON.parse(must(kubectl(['get', `${resource(o.kind)}/${o.metadata.name}`, '-o', 'json'], { namespace: ctx.ns }), 'get'));
      assert.equal(live.spec, v.withDefaults(o).spec, `${f}: ${o.kind} ${o.metadata.name}`);
    }
  }
});

t('valid changes go through: mutable specs, a raised lock, labels on an immutable RecoveryPoint', (ctx) => {
  for (const o of [vault('fx-vault'), policy('fx-policy'), backup('fx-backup'), recoveryPoint('fx-point'), restore('fx-restore')]) {
    must(kubectl(['create', '-f', '-'], { input: JSON.stringify(o), namespace: ctx.ns }), `create fixture ${o.kind}`);
  }
  const ns = { namespace: ctx.ns };
  must(kubectl(['patch', `${resource('BackupPolicy')}/fx-policy`, '--type=merge', '-p', '{"spec":{"schedule":"@hourly","suspend":true}}'], ns), 'edit a policy');
  must(kubectl(['patch', `${resource('BackupVault')}/fx-vault`, '--type=merge', '-p', '{"spec":{"immutability":{"retentionLockDays":30}}}'], ns), 'raise the lock');
  must(kubectl(['patch', `${resource('BackupVault')}/fx-vault`, '--type=merge', '-p', '{"spec":{"s3":{"prefix":"moved"}}}'], ns), 'move the prefix');
  must(kubectl(['label', `${resource('RecoveryPoint')}/fx-point`, 'keep=forever'], ns), 'label a recovery point');
  must(kubectl(['label', `${resource('VirtualMachineBackup')}/fx-backup`, 'reviewed=yes'], ns), 'label a backup');
});

function objectName(c: BadCase, i: number): string {
  return `bad-${i}-${c.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.slice(0, 60).replace(/-+$/, '');
}

function named(o: TresorObject, name: string): TresorObject {
  return { ...o, metadata: { ...o.metadata, name } };
}

/** Runs one bad case and returns what kubectl printed for the rejected step. */
function attempt(c: BadCase, name: string, ns: string): KubectlResult {
  if (c.operation === 'create') return kubectl(['create', '-f', '-'], { input: JSON.stringify(named(c.object, name)), namespace: ns });
  must(kubectl(['create', '-f', '-'], { input: JSON.stringify(named(c.object, name)), namespace: ns }), `creating the valid object for "${c.name}"`);
  if (c.operation === 'update') {
    const live = JSON.parse(must(kubectl(['get', `${resource(c.object.kind)}/${name}`, '-o', 'json'], { namespace: ns }), 'get'));
    const changed = { ...named(c.changed!, name), metadata: { ...live.metadata } };
    return kubectl(['replace', '-f', '-'], { input: JSON.stringify(changed), namespace: ns });
  }
  const patch = JSON.stringify({ status: c.changed!.status });
  return kubectl(['patch', `${resource(c.object.kind)}/${name}`, '--subresource=status', '--type=merge', '-p', patch], { namespace: ns });
}

const cases = badCases();
t(`the table holds at least 25 distinct bad objects (${cases.length})`, () => {
  assert.ok(cases.length >= 25);
  assert.is(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are distinct');
});

cases.forEach((c, i) => {
  t(`rejected, naming ${c.path}: ${c.name} (${c.operation})`, (ctx) => {
    const name = objectName(c, i);
    const r = attempt(c, name, ctx.ns);
    assert.is.not(r.code, 0, `the apiserver accepted it: ${r.stdout}`);
    assert.ok(namesField(r.stderr, c.path), `the error names ${c.path}: ${r.stderr}`);
    for (const m of c.mentions ?? []) assert.ok(r.stderr.includes(m), `the error says "${m}": ${r.stderr}`);
    if (c.operation === 'create') {
      assert.is.not(kubectl(['get', `${resource(c.object.kind)}/${name}`], { namespace: ctx.ns }).code, 0, 'nothing was stored');
    }
  });
});

t('kubectl explain on nested fields prints their descriptions', async () => {
  const explain = (field: string): Promise<string> =>
    eventually(`kubectl explain ${field}`, async () => {
      const r = kubectl(['explain', field, `--api-version=${GROUP}/v1alpha1`]);
      return r.code === 0 ? r.stdout.replace(/\s+/g, ' ') : undefined; // explain wraps long lines
    }, 30_000);
  const daily = await explain('backuppolicies.spec.retention.daily');
  assert.match(daily, /How many daily recovery points \(the newest of each day\) to keep/);
  const fallback = await explain('virtualmachinebackups.status.disks.fallbackReason');
  assert.match(fallback, /Why the type or change detection is weaker than requested/);
  const key = await explain('backupvaults.spec.encryption.keySecretRef.key');
  assert.match(key, /the vault's master key: 64 hex digits \(32 random bytes/);
});

t('kubectl get tresor lists every kind with its columns', (ctx) => {
  const vmb = resource('VirtualMachineBackup');
  const status = {
    phase: 'Succeeded',
    consistency: { level: 'FileSystemConsistent', reason: 'NoApplicationHooks' },
    backupType: 'Incremental',
    progress: { bytesDone: 100, bytesTotal: 100, percent: 100 },
    conditions: [{ type: 'Succeeded', status: 'True', reason: 'Completed', message: 'done', lastTransitionTime: '2026-11-27T01:00:00Z' }],
    disks: [{ name: 'rootdisk', requestedType: 'Incremental', type: 'Full', fallbackReason: 'NoParent', changeDetection: 'None' }],
  };
  must(kubectl(['patch', `${vmb}/web-1-before-upgrade`, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })], { namespace: ctx.ns }), 'status patch');
  const rpStatus = { tier: 'SnapshotAndVault', conditions: [{ type: 'Available', status: 'True', reason: 'InVault', lastTransitionTime: '2026-11-27T01:00:00Z' }] };
  must(kubectl(['patch', `${resource('RecoveryPoint')}/web-1-20261126-013000`, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: rpStatus })], { namespace: ctx.ns }), 'status patch');

  const out = must(kubectl(['get', 'tresor'], { namespace: ctx.ns }), 'kubectl get tresor');
  for (const k of ALL_KINDS) assert.match(out, `${k.singular}.${GROUP}/`, `lists ${k.kind}`);
  for (const header of ['SCHEDULE', 'VAULT', 'CONSISTENCY', 'TYPE', 'PROGRESS', 'TIER', 'AVAILABLE', 'RECOVERY POINT', 'READY']) {
    assert.match(out, header, `column ${header}`);
  }
  assert.match(out, /web-1-before-upgrade\s+web-1\s+Succeeded\s+FileSystemConsistent\s+Incremental\s+100\s+Completed/);
  assert.match(out, /web-1-20261126-013000\s+web-1\s+\d+[hd]\S*\s+FileSystemConsistent\s+Incremental\s+32212254720\s+SnapshotAndVault\s+True/);
  assert.match(out, /production-nightly\s+30 1 \* \* \*\s+offsite\s+false/);
  // The summary condition is what kubectl wait waits for.
  must(kubectl(['wait', '--for=condition=Succeeded', '--timeout=10s', `${vmb}/web-1-before-upgrade`], { namespace: ctx.ns }), 'kubectl wait');
  // Short names and field selectors work too.
  assert.match(must(kubectl(['get', 'tvmb', '--field-selector', 'spec.vmName=web-1'], { namespace: ctx.ns }), 'get tvmb'), /web-1-before-upgrade/);
  assert.match(must(kubectl(['get', 'trp'], { namespace: ctx.ns }), 'get trp'), /web-1-20261126-013000/);
});

t.run();
