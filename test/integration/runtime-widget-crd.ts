// A small CRD of the runtime's own (with a status subresource) for runtime integration tests, applied
// idempotently. Note: client-node's typed models spell schema extensions in snake case
// (x_kubernetes_preserve_unknown_fields); the kebab-case key would be silently dropped on serialisation.
import { ApiextensionsV1Api, type KubeConfig, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { eventually } from '../harness.ts';

/** The test resource's coordinates. */
export const WIDGET = Object.freeze({ group: 'runtime-test.tresor.io', version: 'v1', plural: 'widgets', kind: 'Widget' });

const crd: V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `${WIDGET.plural}.${WIDGET.group}` },
  spec: {
    group: WIDGET.group,
    scope: 'Namespaced',
    names: { plural: WIDGET.plural, singular: 'widget', kind: WIDGET.kind, listKind: 'WidgetList' },
    versions: [{
      name: WIDGET.version, served: true, storage: true,
      subresources: { status: {} },
      schema: { openAPIV3Schema: {
        type: 'object',
        properties: {
          spec: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
          status: { type: 'object', x_kubernetes_preserve_unknown_fields: true },
        },
      } },
    }],
  },
};

/** Creates the Widget CRD if missing (or brings an outdated one to this definition) and waits until it is served. */
export async function ensureWidgetCrd(kc: KubeConfig): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const name = crd.metadata!.name!;
  await eventually('widgets CRD applied', async () => {
    try {
      await ext.createCustomResourceDefinition({ body: crd });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    // Already there, maybe from an older run with another schema; several suites may race here, so a
    // conflict just means "look again".
    const cur = await ext.readCustomResourceDefinition({ name });
    if (upToDate(cur)) return true;
    await ext.replaceCustomResourceDefinition({ name, body: { ...crd, metadata: { ...crd.metadata, resourceVersion: cur.metadata?.resourceVersion } } });
    return true;
  }, 30_000);
  await eventually('widgets CRD established', async () => {
    const got = await ext.readCustomResourceDefinition({ name });
    return got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
  }, 30_000);
}

/** True when the stored CRD has what the suites rely on: a status subresource and free-form spec/status. */
function upToDate(cur: V1CustomResourceDefinition): boolean {
  const v = cur.spec.versions[0];
  const props = v?.schema?.openAPIV3Schema?.properties;
  return v?.subresources?.status !== undefined && props?.status?.x_kubernetes_preserve_unknown_fields === true && props.spec?.x_kubernetes_preserve_unknown_fields === true;
}
