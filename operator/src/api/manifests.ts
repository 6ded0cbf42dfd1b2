// Reading Tresor manifests the way the CLI needs to: a multi-document YAML (or JSON) text in, each Tresor
// object validated with defaults applied, and errors worded like the apiserver's, naming document and field.
import { parseAllDocuments } from 'yaml';
import { GROUP } from './constants.ts';
import type { AnyTresorObject } from './types.ts';
import type { ApiValidator, FieldError } from './validate.ts';

/** What one manifest text held. */
export interface ParsedManifests {
  /** Valid Tresor objects, with schema defaults filled in. */
  readonly objects: readonly AnyTresorObject[];
  /** Documents of other API groups (Secrets, ...), untouched. */
  readonly others: readonly Record<string, unknown>[];
  /** One line per problem: `<source> document <n>: <Kind> "<name>" is invalid: <path>: <message>`. */
  readonly errors: readonly string[];
}

function describe(o: Record<string, unknown>): string {
  const name = (o.metadata as { name?: unknown } | undefined)?.name;
  return `${String(o.kind ?? 'object')} "${typeof name === 'string' ? name : '?'}"`;
}

function line(source: string, doc: number, o: Record<string, unknown>, e: FieldError): string {
  return `${source} document ${doc}: ${describe(o)} is invalid: ${e.path || '<root>'}: ${e.message}`;
}

/** Parses and validates every document of `text`; `source` names the text in messages (a file name). */
export function parseManifests(text: string, validator: ApiValidator, source = 'input'): ParsedManifests {
  const objects: AnyTresorObject[] = [];
  const others: Record<string, unknown>[] = [];
  const errors: string[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    const n = i + 1;
    if (doc.errors.length > 0) {
      errors.push(`${source} document ${n}: not valid YAML: ${doc.errors[0]!.message}`);
      return;
    }
    const o = doc.toJS() as unknown;
    if (o === null || o === undefined) return; // an empty document (e.g. a trailing ---)
    if (typeof o !== 'object' || Array.isArray(o)) {
      errors.push(`${source} document ${n}: expected an object with apiVersion and kind`);
      return;
    }
    const obj = o as Record<string, unknown>;
    if (typeof obj.apiVersion !== 'string' || !obj.apiVersion.startsWith(`${GROUP}/`)) {
      others.push(obj);
      return;
    }
    const r = validator.validate(obj);
    if (r.ok) objects.push(validator.withDefaults(obj) as unknown as AnyTresorObject);
    else for (const e of r.errors) errors.push(line(source, n, obj, e));
  });
  return { objects, others, errors };
}
