import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BackupVaultObject } from '../api/types.ts';
import { FS_VAULT_MOUNT, vaultAccess } from '../backup/kube/vault-access.ts';
import { TerminalError } from '../runtime/errors.ts';
import { checkVault } from './probe.ts';
import { endpointRefusal, filesystemVaultRefusal, isCleanAbsolutePath, parseFilesystemVaults, parseS3Endpoints } from './trust.ts';

const fsVault = (namespace: string, filesystem: BackupVaultObject['spec']['filesystem']): BackupVaultObject => ({
  apiVersion: 'tresor.io/v1alpha1', kind: 'BackupVault', metadata: { name: 'v', namespace },
  spec: { filesystem, encryption: { keySecretRef: { name: 'k' } } },
});

test('allow-list: entries parse; bad ones are refused with the entry named', () => {
  assert.equal(parseFilesystemVaults('team-a:/srv/tresor/a, team-b:pvc'), [{ namespace: 'team-a', path: '/srv/tresor/a' }, { namespace: 'team-b', pvc: true }]);
  assert.equal(parseFilesystemVaults(''), []);
  assert.equal(parseFilesystemVaults(undefined), []);
  assert.throws(() => parseFilesystemVaults('team-a:/srv/../etc'), /"team-a:\/srv\/\.\.\/etc"/);
  assert.throws(() => parseFilesystemVaults('/srv/x'), /expected <namespace>:<absolute dir>/);
  assert.throws(() => parseFilesystemVaults('Team:/x'), /expected/);
  assert.throws(() => parseFilesystemVaults('a:relative'), /neither "pvc" nor an absolute directory/);
});

test('clean paths: absolute, no dot segments, no empty segments, no trailing slash', () => {
  for (const p of ['/srv', '/srv/tresor/a', '/a/.hidden/b']) assert.ok(isCleanAbsolutePath(p), p);
  for (const p of ['/', 'srv', '/srv/', '/srv//a', '/srv/../etc', '/srv/./a', '/..']) assert.not.ok(isCleanAbsolutePath(p), p);
});

test('refusal: S3 always allowed; a host path only under a directory granted to its namespace; PVCs only with a grant', () => {
  const allow = parseFilesystemVaults('team-a:/srv/tresor/a,team-b:pvc');
  const s3: BackupVaultObject = { ...fsVault('x', undefined), spec: { s3: { bucket: 'bkt', credentialsSecretRef: { name: 'c' } }, encryption: { keySecretRef: { name: 'k' } } } };
  assert.is(filesystemVaultRefusal(s3, []), undefined);
  assert.is(filesystemVaultRefusal(fsVault('team-a', { path: '/srv/tresor/a' }), allow), undefined);
  assert.is(filesystemVaultRefusal(fsVault('team-a', { path: '/srv/tresor/a/v1' }), allow), undefined);
  assert.match(filesystemVaultRefusal(fsVault('team-a', { path: '/srv/tresor/ab' }), allow) ?? '', /host-path vaults in namespace team-a are not allowed at \/srv\/tresor\/ab/);
  assert.match(filesystemVaultRefusal(fsVault('team-a', { path: '/srv/tresor/a/../b' }), allow) ?? '', /without "\." or "\.\." segments/);
  assert.match(filesystemVaultRefusal(fsVault('team-b', { path: '/srv/tresor/a' }), allow) ?? '', /namespace team-b are not allowed/);
  assert.match(filesystemVaultRefusal(fsVault('team-a', { persistentVolumeClaim: { claimName: 'c' } }), allow) ?? '', /PVC vaults in namespace team-a are not allowed/);
  assert.is(filesystemVaultRefusal(fsVault('team-b', { persistentVolumeClaim: { claimName: 'c' } }), allow), undefined);
  assert.is(filesystemVaultRefusal(fsVault('any', { path: '/x/y' }), parseFilesystemVaults('*:/x')), undefined);
});

test('vault access: a granted host path is an existing Directory at the fixed mount; an ungranted one is a terminal VaultNotAllowed', () => {
  const v = fsVault('team-a', { path: '/srv/tresor/a' });
  const a = vaultAccess(v, parseFilesystemVaults('team-a:/srv/tresor/a'));
  const vol = a.volumes.find((x) => x.name === 'vault-data');
  assert.equal(vol?.hostPath, { path: '/srv/tresor/a', type: 'Directory' });
  assert.is(a.mounts.find((m) => m.name === 'vault-data')?.mountPath, FS_VAULT_MOUNT);
  assert.is(a.url, `file://${FS_VAULT_MOUNT}`);
  try {
    vaultAccess(v, []);
    assert.unreachable('must refuse');
  } catch (err) {
    assert.instance(err, TerminalError);
    assert.is((err as TerminalError).reason, 'VaultNotAllowed');
  }
});

test('the readiness check refuses an ungranted filesystem vault before reading any Secret', async () => {
  let reads = 0;
  const check = await checkVault(fsVault('team-a', { path: '/etc' }), {
    secrets: { read: async () => { reads++; return undefined; } },
    readConfig: async () => Buffer.alloc(0),
  });
  assert.equal([check.status, check.reason, reads], ['False', 'VaultNotAllowed', 0]);
});

test('S3 endpoint allow-list: origins parse; only listed origins pass; empty allows any', () => {
  const allowed = parseS3Endpoints('https://s3.eu-west-1.amazonaws.com/, http://minio.storage.svc:9000');
  assert.equal(allowed, ['https://s3.eu-west-1.amazonaws.com', 'http://minio.storage.svc:9000']);
  assert.throws(() => parseS3Endpoints('not a url'), /"not a url" is not a URL/);
  assert.throws(() => parseS3Endpoints('ftp://x'), /must be an http\(s\) URL/);
  assert.is(endpointRefusal('http://minio.storage.svc:9000/', allowed), undefined);
  assert.is(endpointRefusal(undefined, allowed), undefined, 'no endpoint: AWS, allowed when an AWS endpoint is listed');
  assert.match(endpointRefusal('http://10.0.0.1:9000', allowed) ?? '', /may not call http:\/\/10\.0\.0\.1:9000/);
  assert.is(endpointRefusal('http://10.0.0.1:9000', []), undefined);
});

test.run();
