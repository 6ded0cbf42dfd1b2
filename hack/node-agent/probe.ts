// Readiness probes as kubelet runs them, for httpGet probes (the operator's /readyz): every periodSeconds
// after initialDelaySeconds, a GET on the pod's address (127.0.0.1: pods share the host's network) with
// timeoutSeconds; 200-399 counts as success; successThreshold successes make the container Ready,
// failureThreshold failures make it not Ready. Other probe kinds are not run (the container counts as
// Ready once running, as before).
import http from 'node:http';
import type { V1Container, V1Probe } from '@kubernetes/client-node';

/** A running probe loop; stop() ends it. */
export interface ProbeRun {
  stop(): void;
}

/** The TCP port a probe names (a number, or the name of one of the container's ports). */
export function probePort(c: V1Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  if (port && /^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

function get(port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** Whether the agent runs this probe (httpGet with a resolvable port). */
export function runsProbe(c: V1Container, probe: V1Probe | undefined): boolean {
  return !!probe?.httpGet && probePort(c, probe.httpGet.port as number | string) !== undefined;
}

/** Starts probing; `onChange` gets each change of readiness (starting from not ready). */
export function startReadinessProbe(c: V1Container, probe: V1Probe, onChange: (ready: boolean) => void): ProbeRun {
  const port = probePort(c, probe.httpGet!.port as number | string)!;
  const path = probe.httpGet!.path ?? '/';
  const period = Math.max(1, probe.periodSeconds ?? 10) * 1000;
  const timeout = Math.max(1, probe.timeoutSeconds ?? 1) * 1000;
  let ready = false;
  let ok = 0;
  let bad = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    const success = await get(port, path, timeout);
    if (stopped) return;
    ok = success ? ok + 1 : 0;
    bad = success ? 0 : bad + 1;
    if (!ready && ok >= (probe.successThreshold ?? 1)) onChange((ready = true));
    else if (ready && bad >= (probe.failureThreshold ?? 3)) onChange((ready = false));
    timer = setTimeout(() => void tick(), period);
  };
  timer = setTimeout(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000);
  return { stop: () => { stopped = true; clearTimeout(timer); } };
}
