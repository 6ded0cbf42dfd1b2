// Validation of Tresor objects outside the apiserver (CLI input, examples, defaults) with the very schemas
// the CRDs are generated from. ajv checks the structure; each CEL rule's JavaScript twin checks what the
// rule checks (rules about oldSelf need the stored object and are left to the apiserver). Unknown fields
// are errors here, as kubectl's strict field validation makes them on the server.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { API_VERSION } from './constants.ts';
import type { KindDefinition } from './kind.ts';
import { ALL_KINDS, kindDefinition } from './kinds.ts';
import { CHECK, type Rule } from './schema.ts';

/** One problem, with the field path as the apiserver would print it (`spec.retention.daily`). */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** The outcome of validating one object. */
export type ValidationResult = { readonly ok: true; readonly errors: readonly [] } | { readonly ok: false; readonly errors: readonly FieldError[] };

/** Validates Tresor objects; compiled schemas are cached per kind and mode. */
export interface ApiValidator {
  /** Checks a whole object (apiVersion, kind, metadata.name, spec, status) of any Tresor kind. */
  validate(object: unknown): ValidationResult;
  /** A deep copy of `object` with every schema default filled in, as the apiserver would store it. */
  withDefaults<T>(object: T): T;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Copies a schema tree (keeping the rules' symbol-keyed checks) and forbids unknown fields on closed objects. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const s = schema as Record<string | symbol, unknown>;
  if (s[CHECK] !== undefined) return s; // a rule: keep as is
  const out: Record<string | symbol, unknown> = { ...s };
  for (const k of Object.keys(out)) out[k] = closed(out[k]);
  const open = 'additionalProperties' in s || s['x-kubernetes-preserve-unknown-fields'] === true;
  if (s.type === 'object' && s.properties !== undefined && !open) out.additionalProperties = false;
  return out;
}

function rootSchema(def: KindDefinition): unknown {
  return closed({
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { type: 'string', enum: [API_VERSION] },
      kind: { type: 'string', enum: [def.kind] },
      metadata: {
        type: 'object',
        required: ['name'],
        additionalProperties: true,
        properties: { name: { type: 'string', minLength: 1, maxLength: 253 } },
      },
      spec: def.spec as TSchema,
      status: def.status as TSchema,
    },
  });
}

function runRules(rules: readonly Rule[], data: unknown): Array<Partial<ErrorObject>> {
  const errors: Array<Partial<ErrorObject>> = [];
  for (const r of rules) {
    const check = r[CHECK];
    let ok = true;
    try {
      ok = check === undefined || check(data as never);
    } catch {
      ok = true; // a value of the wrong type; the type error is reported by its own keyword
    }
    if (!ok) errors.push({ keyword: 'x-kubernetes-validations', message: r.message, params: { rule: r.rule, fieldPath: r.fieldPath ?? '' } });
  }
  return errors;
}

/** Entries of a `set` or `map` list that repeat an earlier entry (or its keys), as the apiserver reports them. */
function duplicates(type: string, list: readonly unknown[], keys: unknown): Array<Partial<ErrorObject>> {
  if (type !== 'set' && type !== 'map') return [];
  const seen = new Set<string>();
  const errors: Array<Partial<ErrorObject>> = [];
  list.forEach((item, i) => {
    const id = type === 'map' && Array.isArray(keys) ? JSON.stringify(keys.map((k: string) => (item as Record<string, unknown>)[k])) : JSON.stringify(item);
    if (seen.has(id)) {
      errors.push({ keyword: 'x-kubernetes-list-type', message: `Duplicate value: ${id}`, params: { fieldPath: `[${i}]` } });
    }
    seen.add(id);
  });
  return errors;
}

function makeAjv(useDefaults: boolean): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, useDefaults, strictTypes: false });
  for (const k of ['x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields']) {
    ajv.addKeyword(k);
  }
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-type',
    schemaType: 'string',
    errors: true,
    validate: function listType(type: string, data: unknown, parent?: Record<string, unknown>): boolean {
      const errors = Array.isArray(data) ? duplicates(type, data, parent?.['x-kubernetes-list-map-keys']) : [];
      (listType as { errors?: unknown }).errors = errors;
      return errors.length === 0;
    },
  });
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    schemaType: 'array',
    errors: true,
    validate: function celTwins(rules: readonly Rule[], data: unknown): boolean {
      const errors = runRules(rules, data);
      (celTwins as { errors?: unknown }).errors = errors;
      return errors.length === 0;
    },
  });
  ajv.addFormat('date-time', (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)));
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  return ajv;
}

/** `/spec/disks/0/name` → `spec.disks[0].name`. */
function dotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

/** Turns ajv's errors into field errors named like the apiserver names them. */
export function toFieldErrors(errors: readonly ErrorObject[]): FieldError[] {
  return errors.map((e) => {
    let path = dotted(e.instancePath);
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'required') path = [path, String(params.missingProperty)].filter(Boolean).join('.');
    if (e.keyword === 'additionalProperties') path = [path, String(params.additionalProperty)].filter(Boolean).join('.');
    if (e.keyword.startsWith('x-kubernetes-') && params.fieldPath) path += String(params.fieldPath);
    const message = e.keyword === 'additionalProperties' ? 'unknown field' : (e.message ?? e.keyword);
    return { path, message };
  });
}

/** Creates a validator; schemas compile on first use of each kind. */
export function createApiValidator(): ApiValidator {
  const strict = makeAjv(false);
  const defaulting = makeAjv(true);
  const cache = new Map<string, ValidateFunction>();
  const compiled = (ajv: Ajv, mode: string, def: KindDefinition): ValidateFunction => {
    const key = `${mode}/${def.kind}`;
    let fn = cache.get(key);
    if (!fn) {
      fn = ajv.compile(rootSchema(def) as object);
      cache.set(key, fn);
    }
    return fn;
  };
  const kindOf = (object: unknown): KindDefinition | FieldError => {
    const kind = (object as { kind?: unknown } | null)?.kind;
    if (typeof kind !== 'string') return { path: 'kind', message: 'must be a string' };
    if (!ALL_KINDS.some((k) => k.kind === kind)) return { path: 'kind', message: `unknown kind ${kind}` };
    return kindDefinition(kind);
  };
  return {
    validate(object) {
      const def = kindOf(object);
      if ('path' in def) return { ok: false, errors: [def] };
      const fn = compiled(strict, 'strict', def);
      return fn(object) ? { ok: true, errors: [] } : { ok: false, errors: toFieldErrors(fn.errors ?? []) };
    },
    withDefaults(object) {
      const copy = structuredClone(object);
      const def = kindOf(copy);
      if (!('path' in def)) compiled(defaulting, 'defaults', def)(copy);
      return copy;
    },
  };
}
