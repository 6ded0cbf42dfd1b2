// The local node agent's pure parts, without a cluster: the sandbox never creates mount points on the
// host, pod phases follow kubelet's rules, termination messages are bounded, and the small parsers
// (quantities, Go durations, guest descriptions) and choices (scheduling, snapshots, VMs) hold.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startContainer, terminationMessage } from '../../hack/node-agent/container.ts';
import { claimNode, provisionsFor } from '../../hack/node-agent/consumers.ts';
import { expand } from '../../hack/node-agent/env.ts';
import { effectiveCommand, imageUser, matches, runAsUser, type ImageConfig } from '../../hack/node-agent/images.ts';
import { quantityBytes } from '../../hack/node-agent/files.ts';
import { DEFAULT_GUEST, guestOf, parseGoDuration } from '../../hack/node-agent/guest.ts';
import { vmiFor, wantsRunning } from '../../hack/node-agent/kubevirt.ts';
import { nodeLabels } from '../../hack/node-agent/node.ts';
import { keepTransitionTimes, podPhase, type ContainerInfo } from '../../hack/node-agent/podstatus.ts';
import { bwrapArgs, resolveTarget } from '../../hack/node-agent/sandbox.ts';
import { shouldBind } from '../../hack/node-agent/scheduler.ts';
import { snapshotWork } from '../../hack/node-agent/snapshots.ts';

const t = suite('node agent: logic');

t('a mount below an existing host directory shadows the path instead of binding it', () => {
  const args = bwrapArgs({ mounts: [{ source: '/tmp', target: '/opt/tresor-na-test/data', mode: 'bind' }], workingDir: '/', command: ['true'] });
  const s = args.join(' ');
  assert.ok(s.includes('--dir /opt'), 'the host directory is recreated on the sandbox root');
  assert.not.ok(s.includes('--bind /opt /opt'), 'the host directory itself is not bound');
  assert.ok(s.includes('--bind /tmp /opt/tresor-na-test/data'));
  assert.ok(s.includes('--bind /usr /usr') || s.includes('--symlink'), 'the rest of the host is there');
  assert.ok(s.endsWith('--chdir / -- true'));
});

t('a mount target through a host symlink goes to the resolved path; /dev targets stay as named', () => {
  assert.is(resolveTarget('/var/run/secrets/x'), '/run/secrets/x');
  assert.is(resolveTarget('/dev/xvda'), '/dev/xvda');
});

t('a real sandbox sees its volumes where the pod names them and leaves nothing on the host', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'na-logic-'));
  try {
    writeFileSync(join(dir, 'disk'), 'block-bytes');
    writeFileSync(join(dir, 'term'), '');
    const run = startContainer({
      sandbox: {
        mounts: [
          { source: join(dir, 'disk'), target: '/dev/vdz', mode: 'dev-bind' },
          { source: dir, target: '/opt/tresor-na-test/vol', mode: 'bind' },
          { source: join(dir, 'term'), target: '/dev/termination-log', mode: 'bind' },
        ],
        workingDir: '/', command: ['sh', '-c', 'cat /dev/vdz > /dev/termination-log; test -f /opt/tresor-na-test/vol/disk'],
      },
      env: { PATH: '/usr/bin:/bin' }, logFile: join(dir, 'log'), terminationFile: join(dir, 'term'), fallbackToLogs: false,
    });
    const exit = await run.exited;
    assert.is(exit.exitCode, 0, readFileSync(join(dir, 'log'), 'utf8'));
    assert.is(exit.message, 'block-bytes');
    assert.not.ok(existsSync('/opt/tresor-na-test'), 'no mount point was created on the host');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('termination messages: the file first, bounded; the log tail only with FallbackToLogsOnError and a failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'na-logic-'));
  try {
    const terminationFile = join(dir, 'term');
    const logFile = join(dir, 'log');
    writeFileSync(terminationFile, 'x'.repeat(5000));
    writeFileSync(logFile, Array.from({ length: 200 }, (_, i) => `line ${i}`).join('\n'));
    assert.is(terminationMessage({ terminationFile, logFile, fallbackToLogs: true, exitCode: 1 }).length, 4096);
    writeFileSync(terminationFile, '');
    const tail = terminationMessage({ terminationFile, logFile, fallbackToLogs: true, exitCode: 1 });
    assert.ok(tail.endsWith('line 199') && tail.length <= 2048 && tail.split('\n').length <= 81);
    assert.is(terminationMessage({ terminationFile, logFile, fallbackToLogs: true, exitCode: 0 }), '');
    assert.is(terminationMessage({ terminationFile, logFile, fallbackToLogs: false, exitCode: 1 }), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const now = new Date();
const c = (current: ContainerInfo['current'], done = false, restartCount = 0): ContainerInfo => ({ name: 'c', image: '', restartCount, current, last: undefined, done });
const ended = (exitCode: number): ContainerInfo['current'] => ({ kind: 'terminated', exitCode, signal: undefined, message: '', startedAt: now, finishedAt: now });

t('pod phase follows kubelet: Pending, Running, Succeeded, Failed, and restarting counts as Running', () => {
  const phase = (main: ContainerInfo[], init: ContainerInfo[] = []): string => podPhase({ startTime: now, init, main });
  assert.is(phase([c({ kind: 'waiting', reason: 'ContainerCreating' })]), 'Pending');
  assert.is(phase([c({ kind: 'running', startedAt: now })]), 'Running');
  assert.is(phase([c(ended(0), true), c(ended(0), true)]), 'Succeeded');
  assert.is(phase([c(ended(0), true), c(ended(3), true)]), 'Failed');
  assert.is(phase([c(ended(3), false)]), 'Running', 'a failed container about to restart');
  assert.is(phase([c({ kind: 'waiting', reason: 'PodInitializing' })], [c(ended(1), true)]), 'Failed', 'a failed init container fails the pod');
  assert.is(phase([c({ kind: 'waiting', reason: 'PodInitializing' })], [c({ kind: 'running', startedAt: now })]), 'Pending');
  assert.is(podPhase({ startTime: now, init: [], main: [c({ kind: 'running', startedAt: now })], failure: { reason: 'DeadlineExceeded', message: '' } }), 'Failed');
});

t('a pod condition keeps its lastTransitionTime until its status flips', () => {
  const t0 = new Date(0);
  const prev = [{ type: 'Ready', status: 'False', lastTransitionTime: t0 }, { type: 'PodScheduled', status: 'True', lastTransitionTime: t0 }];
  const next = keepTransitionTimes([{ type: 'Ready', status: 'True', lastTransitionTime: now }, { type: 'PodScheduled', status: 'True', lastTransitionTime: now }], prev);
  assert.is(next[0]!.lastTransitionTime, now);
  assert.is(next[1]!.lastTransitionTime, t0);
});

t('quantities, Go durations and $(VAR) expansion', () => {
  assert.is(quantityBytes('4Mi'), 4 * 2 ** 20);
  assert.is(quantityBytes('1G'), 1e9);
  assert.is(quantityBytes('1536'), 1536);
  assert.throws(() => quantityBytes('lots'));
  assert.is(parseGoDuration('1m30s'), 90_000);
  assert.is(parseGoDuration('500ms'), 500);
  assert.is(parseGoDuration('5x'), undefined);
  assert.is(expand('$(A)-$(B)-$$(A)', { A: 'a' }), 'a-$(B)-$(A)');
});

t('guest descriptions: defaults, VMI before VM, bad JSON falls back', () => {
  assert.equal(guestOf(undefined), DEFAULT_GUEST);
  const g = guestOf({ 'hack.tresor.io/guest': '{"agent":false,"os":"windows"}' }, { 'hack.tresor.io/guest': '{"freeze":"fail"}' });
  assert.is(g.agent, false);
  assert.is(g.os, 'mswindows');
  assert.is(g.freeze, 'ok');
  assert.equal(guestOf({ 'hack.tresor.io/guest': 'not json' }), DEFAULT_GUEST);
});

t('scheduling: selected mode takes only pods naming the node; bound or other schedulers\' pods are left', () => {
  const node = { name: 'n1', labels: nodeLabels('n1') };
  const pod = (spec: Record<string, unknown>): Parameters<typeof shouldBind>[0] => ({ metadata: { name: 'p' }, spec: { containers: [], ...spec } });
  assert.ok(shouldBind(pod({}), node, 'any'));
  assert.not.ok(shouldBind(pod({}), node, 'selected'));
  assert.ok(shouldBind(pod({ nodeSelector: { 'kubernetes.io/hostname': 'n1' } }), node, 'selected'));
  assert.not.ok(shouldBind(pod({ nodeSelector: { 'kubernetes.io/hostname': 'n2' } }), node, 'any'));
  assert.not.ok(shouldBind(pod({ nodeName: 'n1' }), node, 'any'));
  assert.not.ok(shouldBind(pod({ schedulerName: 'other' }), node, 'any'));
  assert.ok(shouldBind(pod({ schedulerName: 'tresor-local' }), node, 'any'));
});

t('snapshot work and VM run strategies', () => {
  const vs = { metadata: { name: 's' }, spec: { source: { persistentVolumeClaimName: 'c' } } };
  assert.is(snapshotWork(vs), 'cut');
  assert.is(snapshotWork({ ...vs, status: { readyToUse: true } }), undefined);
  assert.is(snapshotWork({ ...vs, spec: { ...vs.spec, volumeSnapshotClassName: 'other' } }), undefined);
  assert.is(snapshotWork({ ...vs, metadata: { name: 's', deletionTimestamp: now, finalizers: ['local.csi.tresor.io/snapshot-protection'] } }), 'remove');
  assert.ok(wantsRunning({ spec: { running: true } }));
  assert.ok(wantsRunning({ spec: { runStrategy: 'Always' } }));
  assert.not.ok(wantsRunning({ spec: { runStrategy: 'Halted' } }));
  const vmi = vmiFor({ metadata: { name: 'vm', namespace: 'ns', uid: 'u1' }, spec: { template: { metadata: { labels: { a: 'b' } }, spec: { volumes: [] } } } });
  assert.is(vmi.metadata?.ownerReferences?.[0]?.uid, 'u1');
  assert.equal(vmi.metadata?.labels, { a: 'b' });
});

t('a fresh claim belongs to the node its annotation or a consumer names; unpinned ones only to agents in any mode', () => {
  const claim = (annotations?: Record<string, string>): Parameters<typeof claimNode>[0] => ({ metadata: { name: 'disk', namespace: 'ns', annotations } });
  const usesDisk = { volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'disk' } }] };
  assert.is(claimNode(claim({ 'volume.kubernetes.io/selected-node': 'n1' }), [], []), 'n1');
  assert.is(claimNode(claim(), [{ spec: { containers: [], nodeName: 'n2', ...usesDisk } }], []), 'n2');
  assert.is(claimNode(claim(), [{ spec: { containers: [], nodeSelector: { 'kubernetes.io/hostname': 'n3' }, ...usesDisk } }], []), 'n3');
  assert.is(claimNode(claim(), [], [{ spec: { template: { spec: { nodeSelector: { 'kubernetes.io/hostname': 'n4' }, volumes: [{ name: 'd', dataVolume: { name: 'disk' } }] } } } }]), 'n4');
  assert.is(claimNode(claim(), [{ spec: { containers: [], nodeName: 'n5' } }], []), undefined, 'a pod that does not use the claim');
  assert.ok(provisionsFor('n1', 'n1', 'selected'));
  assert.not.ok(provisionsFor('n2', 'n1', 'any'));
  assert.ok(provisionsFor(undefined, 'n1', 'any'));
  assert.not.ok(provisionsFor(undefined, 'n1', 'selected'));
});

t('images: kubelet combines entrypoint/cmd with command/args; refs match by digest or by name', () => {
  const img: ImageConfig = { user: '65532:65532', env: [], entrypoint: ['/ep'], cmd: ['--default'], workingDir: '/app' };
  assert.equal(effectiveCommand(img, undefined, undefined), ['/ep', '--default']);
  assert.equal(effectiveCommand(img, undefined, ['--x']), ['/ep', '--x'], 'args replace cmd');
  assert.equal(effectiveCommand(img, ['sh'], undefined), ['sh'], 'command replaces entrypoint and drops cmd');
  assert.equal(effectiveCommand(img, ['sh'], ['-c', 'true']), ['sh', '-c', 'true']);
  const d = { digest: `sha256:${'a'.repeat(64)}`, annotations: { 'io.containerd.image.name': 'ghcr.io/x/y:1.0' } };
  assert.ok(matches(`ghcr.io/x/y@sha256:${'a'.repeat(64)}`, d));
  assert.not.ok(matches(`ghcr.io/x/y@sha256:${'b'.repeat(64)}`, d));
  assert.ok(matches('ghcr.io/x/y:1.0', d));
  assert.not.ok(matches('ghcr.io/x/y', d), 'no tag means :latest');
  assert.not.ok(matches('y:1.0', d));
});

t('images: the user comes from the container, then the pod, then the image (names via its /etc/passwd)', () => {
  const root = mkdtempSync(join(tmpdir(), 'na-img-'));
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/false\nnonroot:x:65532:65533::/home/nonroot:/bin/false\n');
    const img = (user: string | undefined): ImageConfig => ({ user, env: [], entrypoint: [], cmd: [], workingDir: undefined });
    assert.equal(imageUser(img('65532:65532'), root), { uid: 65532, gid: 65532 });
    assert.equal(imageUser(img('nonroot'), root), { uid: 65532, gid: 65533 });
    assert.equal(imageUser(img(undefined), root), { uid: 0, gid: 0 });
    assert.throws(() => imageUser(img('nobody'), root), /not in the image/);
    assert.equal(runAsUser({ image: img('nonroot'), rootfs: root, pod: { runAsUser: 1000 } }), { uid: 1000, gid: 65533 });
    assert.equal(runAsUser({ image: img('nonroot'), rootfs: root, pod: { runAsUser: 1000 }, container: { runAsUser: 7, runAsGroup: 8 } }), { uid: 7, gid: 8 });
    assert.throws(() => runAsUser({ image: img(undefined), rootfs: root, pod: { runAsNonRoot: true } }), /runAsNonRoot/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t('an image root: its entries are bound read-only, links resolve inside it, the user is mapped, root remounted read-only', () => {
  const root = mkdtempSync(join(tmpdir(), 'na-rootfs-'));
  try {
    mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
    mkdirSync(join(root, 'app'));
    symlinkSync('usr/lib', join(root, 'lib'));
    const args = bwrapArgs({ mounts: [{ source: '/tmp', target: '/lib/data', mode: 'bind' }], workingDir: '/app', command: ['x'], rootfs: root, readOnlyRoot: true, user: { uid: 65532, gid: 65532 } });
    const s = args.join(' ');
    assert.ok(s.includes(`--ro-bind ${root}/app /app`), s);
    assert.ok(s.includes('--symlink usr/lib /lib'));
    assert.ok(s.includes('--bind /tmp /usr/lib/data'), 'the target through the image\'s link goes to the resolved path');
    assert.ok(s.includes('--unshare-user --uid 65532 --gid 65532'));
    assert.ok(s.includes('--remount-ro / --chdir /app -- x'));
    assert.not.ok(s.includes('--bind /usr /usr'), 'nothing of the host root');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

t.run();
