// Kubernetes label selector matching (matchLabels AND matchExpressions), as the apiserver evaluates it.
import type { LabelSelector } from '../api/schema.ts';

type Requirement = NonNullable<LabelSelector['matchExpressions']>[number];

function requirementHolds(e: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, e.key);
  const inValues = has && (e.values ?? []).includes(labels[e.key]!);
  switch (e.operator) {
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'In':
      return inValues;
    case 'NotIn':
      return !inValues;
  }
}

/** True when `labels` satisfy the selector; an empty selector matches everything. */
export function matchesSelector(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  const exact = Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  return exact && (selector?.matchExpressions ?? []).every((e) => requirementHolds(e, l));
}
