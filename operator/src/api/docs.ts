// The generated parts of the API pages in docs/api/: a field reference table rendered from the schema,
// and the examples copied from crds/examples, each between BEGIN/END GENERATED markers so the prose
// around them stays hand-written. hack/update-crds rewrites them; hack/verify-crds fails when they drift.
import { toJsonSchema, type JsonSchema } from './crd.ts';
import type { KindDefinition } from './kind.ts';

const FIELDS_BEGIN = '<!-- BEGIN GENERATED: fields -->';
const FIELDS_END = '<!-- END GENERATED: fields -->';
const EXAMPLE_RE = /(<!-- BEGIN GENERATED: example (\S+) -->\n)[\s\S]*?(<!-- END GENERATED: example -->)/g;

/** The docs page of a kind, relative to the repository root. */
export function docPagePath(def: KindDefinition): string {
  return `docs/api/${def.singular}.md`;
}

function typeOf(n: JsonSchema): string {
  if (n.type === 'array') return `[]${typeOf((n.items ?? {}) as JsonSchema)}`;
  if (n.type === 'object' && n.additionalProperties) return 'map[string]string';
  if (n.type === 'string' && n.format === 'date-time') return 'timestamp';
  return String(n.type);
}

function bounds(n: JsonSchema): string[] {
  const out: string[] = [];
  if (Array.isArray(n.enum)) out.push(`one of ${n.enum.map((v) => `\`${String(v)}\``).join(', ')}`);
  if (n.minimum !== undefined || n.maximum !== undefined) out.push(`${String(n.minimum ?? '')}–${String(n.maximum ?? '')}`);
  if (n.minItems !== undefined) out.push(`at least ${String(n.minItems)} item(s)`);
  if (n.maxItems !== undefined) out.push(`at most ${String(n.maxItems)} items`);
  if (n.pattern !== undefined && n.type === 'string') out.push(`pattern \`${String(n.pattern)}\``);
  for (const r of (n['x-kubernetes-validations'] ?? []) as Array<{ message: string }>) out.push(r.message);
  return out;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function rows(n: JsonSchema, path: string, required: boolean, out: string[]): void {
  const def = n.default === undefined ? '' : `\`${JSON.stringify(n.default)}\``;
  const rules = n.type === 'array' ? [...bounds(n), ...bounds((n.items ?? {}) as JsonSchema).map((r) => `each item: ${r}`)] : bounds(n);
  const desc = [String(n.description ?? ''), ...(rules.length ? [`*Validation:* ${rules.join('; ')}.`] : [])].join(' ');
  out.push(`| \`${path}\` | ${typeOf(n)} | ${required ? 'yes' : ''} | ${cell(def)} | ${cell(desc)} |`);
  const node = n.type === 'array' ? ((n.items ?? {}) as JsonSchema) : n;
  const props = (node.properties ?? {}) as Record<string, JsonSchema>;
  const req = new Set((node.required ?? []) as string[]);
  const prefix = n.type === 'array' ? `${path}[]` : path;
  for (const [k, child] of Object.entries(props)) rows(child, `${prefix}.${k}`, req.has(k), out);
}

/** The field reference of a kind as a Markdown table (spec, then status). */
export function fieldTable(def: KindDefinition): string {
  const out = ['| Field | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |'];
  rows(toJsonSchema(def.spec), 'spec', true, out);
  rows(toJsonSchema(def.status), 'status', false, out);
  return out.join('\n');
}

/** `text` with its generated sections rewritten; `readExample` returns a file's text by repository path. */
export function renderDocPage(text: string, def: KindDefinition, readExample: (path: string) => string): string {
  let out = text;
  const b = out.indexOf(FIELDS_BEGIN);
  const e = out.indexOf(FIELDS_END);
  if (b >= 0 && e > b) out = `${out.slice(0, b + FIELDS_BEGIN.length)}\n${fieldTable(def)}\n${out.slice(e)}`;
  return out.replace(EXAMPLE_RE, (_m, begin: string, path: string, end: string) => `${begin}\`\`\`yaml\n${readExample(path).trimEnd()}\n\`\`\`\n${end}`);
}

/** Whether a page has the field-reference markers (every kind's page must). */
export function hasFieldMarkers(text: string): boolean {
  return text.includes(FIELDS_BEGIN) && text.includes(FIELDS_END);
}
