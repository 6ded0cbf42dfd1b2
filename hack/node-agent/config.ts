// The agent's command line, parsed once into a frozen object that every part is handed.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Which pending pods the agent's mini scheduler binds to its node. */
export type ScheduleMode = 'any' | 'selected';

/** Everything the agent was told on its command line. */
export interface AgentConfig {
  readonly stateDir: string;
  readonly nodeName: string;
  /** `any`: every pending pod whose nodeSelector this node satisfies; `selected`: only pods naming this node. */
  readonly schedule: ScheduleMode;
  /** The repository root: what every container image maps to. */
  readonly repoRoot: string;
  /** CA that signs the apiserver's front-proxy client certificate (aggregated API callers). */
  readonly frontProxyCa: string | undefined;
  /** Serve KubeVirt's freeze/unfreeze subresources and register the APIService. */
  readonly aggregatedApi: boolean;
  readonly verbose: boolean;
  /** Remove the Node object on a clean stop (tests: no NotReady nodes pile up in a shared cluster). */
  readonly deleteNodeOnExit: boolean;
  /** OCI image layouts that are the node's images (ADR 0102); an image on none of them is ErrImagePull. */
  readonly imageLayouts: readonly string[];
  /** Where images are unpacked, one root filesystem per manifest digest. */
  readonly imageCache: string;
  /** Stand-in images that run from the host and the checkout, as every image did before (tests' busybox, tresor:dev). */
  readonly hostImages: readonly string[];
}

/** The stand-in images tests use that run on the host root (see ADR 0102). */
export const DEFAULT_HOST_IMAGES = ['busybox', 'tresor:dev', 'tresor:test'];

/** The node name used when none is given. */
export const DEFAULT_NODE_NAME = 'tresor-local-node';

const USAGE = 'usage: node-agent --state-dir DIR [--node-name N] [--schedule any|selected] [--front-proxy-ca FILE] [--image-layouts DIR[:DIR]] [--host-images a,b] [--no-aggregated-api] [--delete-node-on-exit] [--verbose]';

/** Parses the agent's arguments; throws the usage line on a mistake. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--no-aggregated-api' || a === '--verbose' || a === '--delete-node-on-exit') bools.add(a);
    else if (a.startsWith('--') && argv[i + 1] !== undefined) flags.set(a, argv[++i]!);
    else throw new Error(`unexpected argument ${a}\n${USAGE}`);
  }
  const stateDir = flags.get('--state-dir');
  if (!stateDir) throw new Error(`--state-dir is required\n${USAGE}`);
  const schedule = flags.get('--schedule') ?? 'any';
  if (schedule !== 'any' && schedule !== 'selected') throw new Error(`--schedule must be any or selected\n${USAGE}`);
  return Object.freeze({
    stateDir: resolve(stateDir),
    nodeName: flags.get('--node-name') ?? DEFAULT_NODE_NAME,
    schedule,
    repoRoot: fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, ''),
    frontProxyCa: flags.get('--front-proxy-ca') ?? env.TRESOR_FRONT_PROXY_CA,
    aggregatedApi: !bools.has('--no-aggregated-api'),
    verbose: bools.has('--verbose'),
    deleteNodeOnExit: bools.has('--delete-node-on-exit'),
    ...imageSettings(flags, env),
  });
}

/** Where the node's images come from (default: what `npm run image` writes) and which run on the host. */
function imageSettings(flags: Map<string, string>, env: NodeJS.ProcessEnv): Pick<AgentConfig, 'imageLayouts' | 'imageCache' | 'hostImages'> {
  const cache = env.TRESOR_CACHE ?? join(homedir(), '.cache', 'tresor');
  const layouts = flags.get('--image-layouts') ?? env.TRESOR_IMAGE_LAYOUTS ?? join(cache, 'image', 'out', 'oci');
  const hostImages = flags.get('--host-images') ?? env.TRESOR_HOST_IMAGES;
  return {
    imageLayouts: Object.freeze(layouts.split(':').filter(Boolean).map((d) => resolve(d))),
    imageCache: join(cache, 'node-agent', 'images'),
    hostImages: Object.freeze(hostImages === undefined ? DEFAULT_HOST_IMAGES : hostImages.split(',').filter(Boolean)),
  };
}
