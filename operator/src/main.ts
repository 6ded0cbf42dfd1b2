// The operator process: `npx node operator/src/main.ts` (in the image: `node operator/src/main.ts`).
// Configuration comes from TRESOR_* environment variables (operator/src/operator/config.ts). SIGTERM and
// SIGINT stop it gracefully; losing leadership ends the process so Kubernetes restarts it as a follower,
// and so does losing the workflow database (the restart recreates it; ADR 0051). Both exit 1.
import { loadConfig } from './operator/config.ts';
import { startOperator } from './operator/run.ts';

async function main(): Promise<number> {
  const cfg = loadConfig();
  const ac = new AbortController();
  const stop = (): void => ac.abort(new Error('signal'));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const op = await startOperator(cfg, ac.signal);
  process.stdout.write(`tresor operator ready (ops port ${op.opsPort})\n`);
  const why = await op.exited;
  if (why !== 'stopped') process.stderr.write(`tresor operator: exiting: ${why}\n`);
  return why === 'stopped' ? 0 : 1;
}

if (import.meta.main) {
  main().then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`tresor operator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
