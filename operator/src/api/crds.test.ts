// The generated CRDs: crds/ matches the schemas (the drift check passes), the drift check really fails
// when a CRD file or a schema changes on one side only, and every generated schema keeps the rules the
// apiserver and `kubectl explain` depend on.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CATEGORY, GROUP } from './constants.ts';
import { buildCrd, crdFileName, openApiSchema, type JsonSchema } from './crd.ts';
import { lineDiff, verifyCrds, verifyDocs, writeCrds, writeDocs } from './crdfiles.ts';
import { docPagePath, fieldTable } from './docs.ts';
import { cpSync, mkdirSync } from 'node:fs';
import { ALL_KINDS } from './kinds.ts';
import { BackupPolicy } from './backuppolicy.ts';
import { CHECK, type Rule } from './schema.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const crdsDir = join(root, 'crds');
const t = suite<{ tmp: string }>('api: generated CRDs', { tmp: '' });

t.before.each((ctx) => {
  ctx.tmp = mkdtempSync(join(tmpdir(), 'tresor-crds-'));
});
t.after.each((ctx) => {
  rmSync(ctx.tmp, { recursive: true, force: true });
});

function verifyScript(dir: string): { code: number | null; out: string } {
  const p = spawnSync(process.execPath, [join(root, 'hack/verify-crds.ts'), '--dir', dir], { encoding: 'utf8' });
  return { code: p.status, out: p.stdout + p.stderr };
}

t('the checked-in crds/ match the schemas (hack/verify-crds.ts exits 0)', () => {
  assert.equal(verifyCrds(crdsDir, ALL_KINDS), []);
  assert.equal(verifyCrds(join(root, 'charts/tresor/crds'), ALL_KINDS), [], 'the chart\'s copy: node hack/update-crds.ts --dir charts/tresor/crds');
  const r = verifyScript(crdsDir);
  assert.is(r.code, 0, r.out);
});

t('drift check fails when a CRD file is edited by hand, and shows the diff', (ctx) => {
  writeCrds(ctx.tmp, ALL_KINDS);
  assert.is(verifyScript(ctx.tmp).code, 0, 'freshly generated files pass');
  const file = join(ctx.tmp, crdFileName(BackupPolicy));
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace('maximum: 3650', 'maximum: 9999'));
  const r = verifyScript(ctx.tmp);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, `changed: ${crdFileName(BackupPolicy)}`);
  assert.match(r.out, /^-\s+maximum: 3650$/m);
  assert.match(r.out, /^\+\s+maximum: 9999$/m);
  assert.match(r.out, 'npm run update:crds');
});

t('drift check fails when a schema changes but crds/ is not regenerated', () => {
  const changed = {
    ...BackupPolicy,
    spec: Type.Object({ ...BackupPolicy.spec.properties, paused: Type.Boolean({ description: 'A field added to the schema only.' }) }, {
      description: BackupPolicy.spec.description,
    }),
  };
  const drift = verifyCrds(crdsDir, ALL_KINDS.map((k) => (k.kind === 'BackupPolicy' ? changed : k)));
  assert.is(drift.length, 1);
  assert.is(drift[0]!.file, crdFileName(BackupPolicy));
  assert.is(drift[0]!.problem, 'changed');
  assert.match(drift[0]!.detail, /^-\s+paused:$/m, "the schema side has the new field");
});

t('drift check fails for a missing file and for a stale file of a kind that no longer exists', (ctx) => {
  writeCrds(ctx.tmp, ALL_KINDS);
  rmSync(join(ctx.tmp, crdFileName(BackupPolicy)));
  writeFileSync(join(ctx.tmp, `${GROUP}_gadgets.yaml`), 'stale');
  const problems = verifyCrds(ctx.tmp, ALL_KINDS).map((d) => `${d.problem} ${d.file}`).sort();
  assert.equal(problems, [`missing ${crdFileName(BackupPolicy)}`, `unexpected ${GROUP}_gadgets.yaml`]);
  assert.is(verifyScript(ctx.tmp).code, 1);
});

t('the API pages carry the current field reference and the examples verbatim', () => {
  assert.equal(verifyDocs(root, ALL_KINDS), []);
  for (const def of ALL_KINDS) {
    const page = readFileSync(join(root, docPagePath(def)), 'utf8');
    assert.ok(page.includes(fieldTable(def)), `${def.kind}: field table`);
    assert.match(page, /```yaml\napiVersion: |```yaml\n#/, `${def.kind}: an example`);
  }
});

t('docs drift is caught: an example edited without regenerating its page', (ctx) => {
  for (const d of ['docs/api', 'crds/examples']) {
    mkdirSync(join(ctx.tmp, d), { recursive: true });
    cpSync(join(root, d), join(ctx.tmp, d), { recursive: true });
  }
  assert.equal(verifyDocs(ctx.tmp, ALL_KINDS), []);
  const ex = join(ctx.tmp, 'crds/examples/backuppolicy.yaml');
  writeFileSync(ex, readFileSync(ex, 'utf8').replace('daily: 7', 'daily: 8'));
  const drift = verifyDocs(ctx.tmp, ALL_KINDS);
  assert.equal(drift.map((d) => d.file), [docPagePath(BackupPolicy)]);
  assert.match(drift[0]!.detail, /^-\s+daily: 8$/m);
  assert.equal(writeDocs(ctx.tmp, ALL_KINDS), [docPagePath(BackupPolicy)], 'update rewrites exactly that page');
  assert.equal(verifyDocs(ctx.tmp, ALL_KINDS), []);
});

t('lineDiff shows only the changed lines with context', () => {
  const d = lineDiff('a\nb\nc\nd\ne', 'a\nb\nX\nd\ne', 'f');
  assert.match(d, /^-c$/m);
  assert.match(d, /^\+X$/m);
  assert.not.match(d, /^-[abde]$/m);
});

/** Visits every schema node under `node` with its path. */
function walk(node: JsonSchema, path: string, visit: (n: JsonSchema, path: string) => void): void {
  visit(node, path);
  const props = (node.properties ?? {}) as Record<string, JsonSchema>;
  for (const [k, child] of Object.entries(props)) walk(child, `${path}.${k}`, visit);
  if (node.items) walk(node.items as JsonSchema, `${path}[]`, visit);
}

t('every field has a description, so kubectl explain teaches at every level', () => {
  for (const def of ALL_KINDS) {
    walk(openApiSchema(def), def.kind, (n, path) => {
      if (path.endsWith('.metadata')) return;
      assert.type(n.description, 'string', `${path} has a description`);
      assert.ok((n.description as string).length > 10, `${path}: a real description`);
    });
  }
});

t('schemas are structural: a type on every node, no properties together with additionalProperties, no const/anyOf', () => {
  for (const def of ALL_KINDS) {
    walk(openApiSchema(def), def.kind, (n, path) => {
      assert.type(n.type, 'string', `${path} has a type`);
      assert.not.ok(n.properties && n.additionalProperties, `${path}: properties with additionalProperties`);
      for (const k of ['const', 'anyOf', 'oneOf', 'allOf', 'patternProperties', '$ref']) assert.not.ok(k in n, `${path} uses ${k}`);
      if (n.type === 'string' && n['x-kubernetes-validations']) assert.type(n.maxLength, 'number', `${path}: CEL on an unbounded string`);
      if (n.type === 'array') assert.type(n.maxItems, 'number', `${path}: unbounded list`);
    });
  }
});

t('every CEL rule that needs no old object has a JavaScript twin for ajv', () => {
  let rules = 0;
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) return n.forEach(visit);
    if (n === null || typeof n !== 'object') return;
    const rs = (n as Record<string, unknown>)['x-kubernetes-validations'] as Rule[] | undefined;
    for (const r of rs ?? []) {
      rules++;
      if (!r.rule.includes('oldSelf')) assert.type(r[CHECK], 'function', `a twin for ${r.rule}`);
    }
    Object.values(n).forEach(visit);
  };
  for (const def of ALL_KINDS) visit([def.spec, def.status]);
  assert.ok(rules >= 15, `${rules} rules`);
});

t('every kind: namespaced, status subresource, category tresor, short names apart from KubeVirt\'s', () => {
  const kubevirt = ['vm', 'vms', 'vmi', 'vmis', 'vmim', 'vmims', 'vmsnapshot', 'vmsnapshots', 'vmss', 'vmrestore', 'vmrestores', 'vmexport', 'vmexports', 'vmclone', 'vmclones', 'vmbackup', 'vmbackups', 'vmpool', 'vmpools', 'vmp', 'vmps'];
  const seen = new Set<string>();
  for (const def of ALL_KINDS) {
    const crd = buildCrd(def) as unknown as { spec: { scope: string; names: { categories: string[]; shortNames: string[] }; versions: Array<{ subresources: unknown; additionalPrinterColumns: unknown[] }> } };
    assert.is(crd.spec.scope, 'Namespaced');
    assert.equal(crd.spec.names.categories, [CATEGORY]);
    assert.equal(crd.spec.versions[0]!.subresources, { status: {} });
    assert.ok(crd.spec.versions[0]!.additionalPrinterColumns.length >= 4, `${def.kind}: useful columns`);
    for (const s of crd.spec.names.shortNames) {
      assert.not.ok(kubevirt.includes(s), `${s} collides with KubeVirt`);
      assert.not.ok(seen.has(s), `${s} used twice`);
      seen.add(s);
    }
  }
});

t.run();
