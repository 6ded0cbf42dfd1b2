// The S3 server is real: an object written with @aws-sdk/client-s3 is listed and read back byte for byte,
// and a missing key is a NoSuchKey error, as on any S3.
import { randomBytes, createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBucket, deleteBucket, s3Client } from '../harness.ts';

const t = suite<{ bucket: string }>('foundation: S3 server', { bucket: '' });
t.before(async (ctx) => { ctx.bucket = await createBucket('foundation'); });
t.after(async (ctx) => { if (ctx.bucket) await deleteBucket(ctx.bucket); });

t('an object round-trips byte for byte', async ({ bucket }) => {
  const s3 = s3Client();
  const body = randomBytes(5 * 1024 * 1024 + 17);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/object.bin', Body: body }));
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'dir/object.bin' }));
  assert.is(head.ContentLength, body.length);
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'dir/' }));
  assert.equal(listed.Contents?.map((o) => o.Key), ['dir/object.bin']);
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dir/object.bin' }));
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  assert.is(createHash('sha256').update(bytes).digest('hex'), createHash('sha256').update(body).digest('hex'));
});

t('a missing key is NoSuchKey', async ({ bucket }) => {
  try {
    await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: 'nothing-here' }));
    assert.unreachable('reading a missing key must fail');
  } catch (err) {
    assert.is((err as Error).name, 'NoSuchKey');
  }
});

t.run();
