// Installing Tresor's CRDs into a cluster through kubectl, for test suites and the local demo: apply
// (idempotent, server-side, taking over fields from any earlier applier) and wait until every kind is
// Established and served, since discovery can lag a moment behind the condition.
import { fileURLToPath } from 'node:url';
import { GROUP } from './constants.ts';
import { ALL_KINDS } from './kinds.ts';

/** What a kubectl run printed (the shape test/harness.ts's `kubectl` returns). */
export interface KubectlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs kubectl with these arguments. */
export type Kubectl = (args: readonly string[]) => KubectlRun;

/** The checked-in CRD directory. */
export const CRDS_DIR = fileURLToPath(new URL('../../../crds', import.meta.url));

function must(r: KubectlRun, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim()}`);
}

/**
 * Applies crds/ and waits until every Tresor kind is Established and listed by discovery. Never deletes
 * anything: CRDs are cluster-scoped and other suites may be using them.
 */
export async function installCrds(kubectl: Kubectl, timeoutMs = 60_000): Promise<void> {
  must(kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=tresor-tests', '-f', CRDS_DIR]), 'kubectl apply -f crds/');
  const names = ALL_KINDS.map((k) => `crd/${k.plural}.${GROUP}`);
  must(kubectl(['wait', '--for=condition=Established', `--timeout=${Math.ceil(timeoutMs / 1000)}s`, ...names]), 'waiting for the CRDs to be Established');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = kubectl(['api-resources', `--api-group=${GROUP}`, '-o', 'name']);
    if (r.code === 0 && ALL_KINDS.every((k) => r.stdout.includes(`${k.plural}.${GROUP}`))) return;
    if (Date.now() > deadline) throw new Error(`Tresor kinds not served after ${timeoutMs} ms: ${r.stdout}${r.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
