// What the CRD generator needs to know about one kind besides its schemas.
import type { TObject } from '@sinclair/typebox';
import type { KindName } from './constants.ts';

/** One `additionalPrinterColumns` entry: a column of `kubectl get`. */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description: string;
  readonly priority?: number;
  readonly format?: 'byte' | 'int64' | 'date-time';
}

/** A Tresor kind: names, the spec and status schemas, and the columns `kubectl get` shows. */
export interface KindDefinition {
  readonly kind: KindName;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** What an object of this kind is; becomes the top-level description in `kubectl explain`. */
  readonly description: string;
  readonly spec: TObject;
  readonly status: TObject;
  readonly printerColumns: readonly PrinterColumn[];
  /** Fields usable in `kubectl get --field-selector` (JSON paths of string fields). */
  readonly selectableFields?: readonly string[];
}

/** The printer column every kind ends with. */
export const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};

/** A column showing one condition's status. */
export function conditionColumn(name: string, type: string, field: 'status' | 'reason', priority?: number): PrinterColumn {
  const c: PrinterColumn = {
    name,
    type: 'string',
    jsonPath: `.status.conditions[?(@.type=="${type}")].${field}`,
    description: `The ${field} of the ${type} condition.`,
  };
  return priority === undefined ? c : { ...c, priority };
}
