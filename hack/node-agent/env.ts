// A container's environment as kubelet builds it: envFrom, then env (value, fieldRef, secretKeyRef,
// configMapKeyRef), the in-cluster API variables, and `$(VAR)` expansion in command and args.
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import type { Rest } from './rest.ts';

/** Where the API server is, for the KUBERNETES_SERVICE_* variables pods use for in-cluster config. */
export interface ApiEndpoint {
  readonly host: string;
  readonly port: string;
}

type Data = Record<string, string>;

async function readData(rest: Rest, ns: string, kind: 'secrets' | 'configmaps', name: string): Promise<Data> {
  const obj = await rest.get<{ data?: Data }>(`/api/v1/namespaces/${ns}/${kind}/${name}`);
  const data = obj.data ?? {};
  if (kind === 'configmaps') return data;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** The value of a downward-API field path (metadata.name, metadata.labels['x'], spec.nodeName, ...). */
export function fieldValue(pod: V1Pod, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[m[2]!] ?? '';
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': pod.spec?.nodeName,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'status.podIP': '127.0.0.1',
    'status.hostIP': '127.0.0.1',
  };
  return fields[path] ?? '';
}

async function envValue(rest: Rest, pod: V1Pod, v: V1EnvVar): Promise<string | undefined> {
  const ns = pod.metadata!.namespace!;
  const from = v.valueFrom;
  if (!from) return v.value ?? '';
  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);
  const ref = from.secretKeyRef ?? from.configMapKeyRef;
  if (!ref) return undefined;
  try {
    const data = await readData(rest, ns, from.secretKeyRef ? 'secrets' : 'configmaps', ref.name!);
    if (data[ref.key] === undefined && !ref.optional) throw new Error(`key ${ref.key} not found in ${ref.name}`);
    return data[ref.key];
  } catch (err) {
    if (ref.optional) return undefined;
    throw err;
  }
}

/** Expands `$(NAME)` references as kubelet does (`$$` escapes; unknown names stay as written). */
export function expand(s: string, env: Data): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$';
    return env[name!] ?? all;
  });
}

/** Builds the container's environment (throws when a required secret or config map key is missing). */
export async function containerEnv(rest: Rest, pod: V1Pod, c: V1Container, base: { path: string; api: ApiEndpoint; image?: readonly string[] }): Promise<Data> {
  // An image's ENV comes first (its PATH and HOME win over the defaults); the pod's env then overrides it.
  const fromImage = Object.fromEntries((base.image ?? []).map((kv) => [kv.slice(0, Math.max(0, kv.indexOf('='))), kv.slice(kv.indexOf('=') + 1)]).filter(([k]) => k));
  const env: Data = {
    PATH: base.path,
    HOME: base.image ? '/' : '/root',
    ...fromImage,
    HOSTNAME: pod.metadata!.name!,
    KUBERNETES_SERVICE_HOST: base.api.host,
    KUBERNETES_SERVICE_PORT: base.api.port,
    KUBERNETES_SERVICE_PORT_HTTPS: base.api.port,
  };
  const ns = pod.metadata!.namespace!;
  for (const src of c.envFrom ?? []) {
    const ref = src.secretRef ?? src.configMapRef;
    if (!ref?.name) continue;
    const data = await readData(rest, ns, src.secretRef ? 'secrets' : 'configmaps', ref.name).catch((err: unknown) => {
      if (ref.optional) return {};
      throw err;
    });
    for (const [k, v] of Object.entries(data)) env[(src.prefix ?? '') + k] = v;
  }
  for (const v of c.env ?? []) {
    const value = await envValue(rest, pod, v);
    if (value !== undefined) env[v.name] = expand(value, env);
  }
  return env;
}
