// The simulated guest inside a VM: whether qemu-guest-agent is there, the OS it reports, and how its
// freeze behaves. Tests describe it with one JSON annotation on the VirtualMachine (or the VMI), read
// afresh at every use, so a test can change the guest of a running VM.

/** The annotation that describes a VM's simulated guest. */
export const GUEST_ANNOTATION = 'hack.tresor.io/guest';

/** How the simulated guest behaves. */
export interface Guest {
  /** qemu-guest-agent present and connected (the VMI's AgentConnected condition). */
  readonly agent: boolean;
  /** guestOSInfo.id as KubeVirt reports it. */
  readonly os: 'linux' | 'mswindows';
  /** `fail`: fsfreeze (or VSS) fails inside the guest. */
  readonly freeze: 'ok' | 'fail';
  /** Seconds the guest takes to answer a freeze (a slow VSS writer). */
  readonly freezeDelaySeconds: number;
  /** Seconds the guest takes to answer an unfreeze (slow thaw). */
  readonly thawDelaySeconds: number;
}

/** The guest of a VM without the annotation: a Linux guest with a working agent. */
export const DEFAULT_GUEST: Guest = Object.freeze({ agent: true, os: 'linux', freeze: 'ok', freezeDelaySeconds: 0, thawDelaySeconds: 0 });

/** Reads the guest description from annotations (VMI first, then VM); unknown or bad fields keep their defaults. */
export function guestOf(...annotationSets: ReadonlyArray<Record<string, string> | undefined>): Guest {
  const raw = annotationSets.map((a) => a?.[GUEST_ANNOTATION]).find((v) => v !== undefined);
  if (!raw) return DEFAULT_GUEST;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return DEFAULT_GUEST;
  }
  const num = (x: unknown): number => (typeof x === 'number' && x >= 0 ? x : 0);
  return Object.freeze({
    agent: v.agent !== false,
    os: v.os === 'mswindows' || v.os === 'windows' ? 'mswindows' : 'linux',
    freeze: v.freeze === 'fail' ? 'fail' : 'ok',
    freezeDelaySeconds: num(v.freezeDelaySeconds),
    thawDelaySeconds: num(v.thawDelaySeconds),
  });
}

/** The guestOSInfo a VMI reports for a guest with an agent. */
export function guestOSInfo(g: Guest): Record<string, string> {
  return g.os === 'mswindows'
    ? { id: 'mswindows', name: 'Microsoft Windows', prettyName: 'Windows Server 2022 Datacenter', version: '2022', kernelRelease: '20348' }
    : { id: 'linux', name: 'Linux', prettyName: 'Tresor simulated Linux', version: '1', kernelRelease: '6.1.0' };
}

/** Parses a Go duration ("5m", "1m30s", "500ms") into milliseconds; undefined when it is not one. */
export function parseGoDuration(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = s;
  while (rest) {
    const m = /^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}
