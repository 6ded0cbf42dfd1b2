// Builders for the pieces every Tresor schema is made of. Each returns a TypeBox schema, which is at once
// a JSON Schema object (emitted into the CRDs, compiled by ajv) and a static TypeScript type. They only
// produce shapes the apiserver accepts as structural: every node has a `type`, enums instead of `const`
// unions, maps through `additionalProperties` alone, and bounded strings and lists so CEL rules fit the
// cost budget.
import { Type, type Static, type TObject, type TProperties, type TSchema, type TUnsafe } from '@sinclair/typebox';
import { Phases } from './constants.ts';

/** The key under which a CEL rule carries its JavaScript twin; symbol keys never reach YAML or JSON. */
export const CHECK: unique symbol = Symbol('tresor.cel.check');

/** The reasons a CEL rule may report (apiextensions `x-kubernetes-validations[].reason`). */
export type CelReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

/** One `x-kubernetes-validations` entry, plus the JavaScript check ajv runs for it (absent on transition rules). */
export interface Rule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: CelReason;
  readonly [CHECK]?: (self: never) => boolean;
}

/**
 * A CEL validation rule and the JavaScript predicate that means the same (or stricter), so that ajv
 * rejects what the apiserver rejects; rules about `oldSelf` have no predicate (ajv never sees old objects).
 */
export function rule<T>(cel: Omit<Rule, typeof CHECK>, check?: (self: T) => boolean): Rule {
  return check ? { ...cel, [CHECK]: check as (self: never) => boolean } : { ...cel };
}

/** The rule that makes a field immutable once set. */
export function immutable(what: string): Rule {
  return rule({ rule: 'self == oldSelf', message: `${what} is immutable` });
}

/** Options common to every builder: the description is mandatory, so `kubectl explain` always teaches. */
type Opts = Record<string, unknown>;

const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** Go duration syntax (`90s`, `1h30m`, `500ms`), which CEL's `duration()` parses. */
export const DURATION_PATTERN = '^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$';

/** A string field. */
export function str(description: string, opts: Opts = {}): ReturnType<typeof Type.String> {
  return Type.String({ description, ...opts });
}

/** An integer field (int64). */
export function int(description: string, opts: Opts = {}): ReturnType<typeof Type.Integer> {
  return Type.Integer({ description, format: 'int64', ...opts });
}

/** A boolean field. */
export function bool(description: string, opts: Opts = {}): ReturnType<typeof Type.Boolean> {
  return Type.Boolean({ description, ...opts });
}

/** A string field restricted to `values` (an `enum`, which structural schemas accept and `const` unions are not). */
export function oneOf<const V extends readonly string[]>(values: V, description: string, opts: Opts = {}): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ type: 'string', enum: [...values], description, ...opts });
}

/** An object field. */
export function obj<P extends TProperties>(description: string, props: P, opts: Opts = {}): TObject<P> {
  return Type.Object(props, { description, ...opts });
}

/** A string-to-string map (labels, selectors). */
export function stringMap(description: string, opts: Opts = {}): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({
    type: 'object',
    description,
    additionalProperties: { type: 'string', maxLength: 63 },
    maxProperties: 64,
    ...opts,
  });
}

/** An object kept as is (no pruning); used only for a captured foreign object such as a VM spec. */
export function opaque(description: string): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({ type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true });
}

/** The name of an object in the same namespace (a DNS-1123 subdomain). */
export function name(description: string, opts: Opts = {}): ReturnType<typeof Type.String> {
  return str(description, { minLength: 1, maxLength: 253, pattern: NAME_PATTERN, ...opts });
}

/** A DNS-1123 label (VM volume names, VM names). */
export function label(description: string, opts: Opts = {}): ReturnType<typeof Type.String> {
  return str(description, { minLength: 1, maxLength: 63, pattern: LABEL_PATTERN, ...opts });
}

/** A reference `{ name }` to an object of `kind` in the same namespace. */
export function localRef(kind: string, description: string): TObject<{ name: ReturnType<typeof Type.String> }> {
  return obj(description, { name: name(`Name of the ${kind} in the same namespace.`) }, { 'x-kubernetes-map-type': 'atomic' });
}

/** A Go-style duration string (`30s`, `1h30m`). */
export function duration(description: string, opts: Opts = {}): ReturnType<typeof Type.String> {
  return str(description, { maxLength: 32, pattern: DURATION_PATTERN, ...opts });
}

/** An RFC 3339 timestamp. */
export function time(description: string): ReturnType<typeof Type.String> {
  return str(description, { format: 'date-time' });
}

/** A list with at most `maxItems` entries (bounded so CEL rules over it stay within the cost budget). */
export function list<T extends TSchema>(items: T, description: string, maxItems: number, opts: Opts = {}): ReturnType<typeof Type.Array<T>> {
  return Type.Array(items, { description, maxItems, ...opts });
}

/** A list of objects keyed by `key` (merge-patchable per entry, and server-side-apply friendly). */
export function listMap<T extends TSchema>(items: T, key: string, description: string, maxItems: number): ReturnType<typeof Type.Array<T>> {
  return list(items, description, maxItems, { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': [key] });
}

/** A Kubernetes label selector (`matchLabels` and `matchExpressions`). */
export const LabelSelector = obj(
  'A label query over VirtualMachines in the policy\'s namespace; empty selects every VirtualMachine.',
  {
    matchLabels: Type.Optional(stringMap('Labels a VirtualMachine must carry, key to exact value; ANDed with matchExpressions.')),
    matchExpressions: Type.Optional(
      list(
        obj('One label requirement.', {
          key: str('The label key the requirement applies to.', { minLength: 1, maxLength: 317 }),
          operator: oneOf(['In', 'NotIn', 'Exists', 'DoesNotExist'], 'How the label\'s value relates to values.'),
          values: Type.Optional(
            list(str('A label value.', { maxLength: 63 }), 'Values for In and NotIn; must be empty for Exists and DoesNotExist.', 64),
          ),
        }, {
          'x-kubernetes-validations': [
            rule<{ operator: string; values?: string[] }>(
              {
                rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
                message: 'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
                fieldPath: '.values',
              },
              (s) => (['In', 'NotIn'].includes(s.operator) ? (s.values?.length ?? 0) > 0 : (s.values?.length ?? 0) === 0),
            ),
          ],
        }),
        'Label requirements, ANDed.',
        32,
      ),
    ),
  },
  { 'x-kubernetes-map-type': 'atomic' },
);
/** A Kubernetes label selector. */
export type LabelSelector = Static<typeof LabelSelector>;

/** One status condition, as the Kubernetes API conventions (and metav1.Condition) define it. */
export const Condition = obj('An observation of one aspect of the object\'s state.', {
  type: str('Type of the condition, CamelCase (e.g. Ready, Succeeded).', { minLength: 1, maxLength: 316 }),
  status: oneOf(['True', 'False', 'Unknown'], 'Status of the condition: True, False or Unknown.'),
  reason: str('Machine-readable CamelCase reason for the last transition.', { minLength: 1, maxLength: 1024 }),
  message: Type.Optional(str('Human-readable details of the last transition.', { maxLength: 32768 })),
  observedGeneration: Type.Optional(int('The .metadata.generation the condition was computed from.', { minimum: 0 })),
  lastTransitionTime: time('When the status last changed from one value to another.'),
});
/** One status condition. */
export type Condition = Static<typeof Condition>;

/** The `status.conditions` list, keyed by type. */
export const Conditions = listMap(Condition, 'type', 'Observations of the object\'s state; the summary condition is listed in the kind\'s documentation.', 16);

/** A job phase, derived from conditions for `kubectl get` columns. */
export const PhaseField = oneOf(Phases, 'A one-word summary of the conditions for kubectl get: Pending, Running, Succeeded or Failed.');

/** Byte counts and a percentage, for jobs that move data. */
export const Progress = obj('How far a data transfer has come.', {
  bytesDone: int('Bytes processed so far.', { minimum: 0 }),
  bytesTotal: int('Bytes to process in total (the logical size of the data).', { minimum: 0 }),
  percent: int('bytesDone as a whole percentage of bytesTotal.', { minimum: 0, maximum: 100 }),
});
/** Byte counts and a percentage. */
export type Progress = Static<typeof Progress>;
