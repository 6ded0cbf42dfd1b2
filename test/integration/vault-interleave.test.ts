// Randomized interleavings of backups, forgets, GC passes, failing lock reads, stalls and clock skews over
// the real S3 server (versitygw). S3 stamps LastModified itself, so store time "passes" through a wrapper
// that shows older objects older (operator/src/mover/interleave.ts). After each schedule the vault verifies
// with data and every published manifest restores byte for byte. TRESOR_INTERLEAVE_S3_SCHEDULES sets how
// many (default 6: each time step waits for the next whole second); TRESOR_INTERLEAVE_SEED reruns one.
import { mock } from 'node:test';
import { suite } from 'uvu';
import { tempDir } from '../../operator/src/mover/fixtures.ts';
import { schedule } from '../../operator/src/mover/interleave.ts';
import { S3Store } from '../../operator/src/vault/s3-store.ts';
import { createBucket, deleteBucket, testEnv } from '../harness.ts';

const test = suite('vault on S3: randomized interleavings');
const COUNT = Number(process.env.TRESOR_INTERLEAVE_S3_SCHEDULES ?? 6);
const ONLY_SEED = process.env.TRESOR_INTERLEAVE_SEED;
let bucket = '';
let dir = '';
let cleanup: () => Promise<void> = async () => {};

test.before(async () => {
  ({ dir, cleanup } = await tempDir());
  bucket = await createBucket('interleave');
});
test.after(async () => {
  await deleteBucket(bucket);
  await cleanup();
});

test(`${ONLY_SEED === undefined ? COUNT : 1} random schedules over S3`, async () => {
  const env = testEnv();
  const kind = { s3: (name: string) => new S3Store({ bucket, prefix: name, endpoint: env.s3.endpoint, credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey } }) };
  const base = ONLY_SEED !== undefined ? Number(ONLY_SEED) : Math.floor(Math.random() * 2 ** 31);
  for (let i = 0; i < (ONLY_SEED === undefined ? COUNT : 1); i++) {
    const seed = (base + i) >>> 0;
    const log: string[] = [];
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      await schedule(seed, kind, log, dir);
    } catch (err) {
      console.error(`\ninterleaving failed on S3: rerun with TRESOR_INTERLEAVE_SEED=${seed}\nschedule:\n  ${log.join('\n  ')}`);
      throw err;
    } finally {
      mock.timers.reset();
    }
  }
});

test.run();
