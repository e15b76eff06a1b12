/**
 * Model roots, on both sides. The coordinator checks every file it may open in a model folder
 * (config.json, the index, tokenizer files, those in original/), not only the shards; a worker
 * refuses any file a task names outside its own --model-root, and URLs unless --allow-urls,
 * even when the task is properly signed.
 */
import test from 'ava';
import { status } from '@grpc/grpc-js';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { existsSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { ModelRoots } from '../service/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { ClusterKey } from '../proto/cluster-key.ts';
import { decodeTaskResult, type TaskOutcome } from '../proto/convert.ts';
import { JOBS_BUCKET, taskSubject } from '../proto/jetstream.ts';
import { sealValue, signTask } from '../proto/signed.ts';
import { CLUSTER_KEY, codeOf, COORDINATOR, Rpc, TOKEN, waitFor } from './helpers/cluster.ts';
import { natsServerAndClient, startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

test('a worker\'s roots: only .safetensors files whose real path is under a root', (t) => {
  const root = tempDir();
  const outside = tempDir();
  synthesize('base', { out: join(root, 'm'), shape: { layers: 1 } });
  synthesize('base', { out: join(outside, 'm'), shape: { layers: 1 } });
  writeFileSync(join(root, 'notes.txt'), 'x');
  symlinkSync(join(outside, 'm', 'model.safetensors'), join(root, 'linked.safetensors'));
  const roots = new ModelRoots([root]);
  t.is(roots.refusalOf(join(root, 'm', 'model.safetensors')), null);
  t.regex(roots.refusalOf(join(outside, 'm', 'model.safetensors'))!, /outside this worker's model roots/);
  t.regex(roots.refusalOf(join(root, 'linked.safetensors'))!, /resolves to .* outside this worker's model roots/);
  t.regex(roots.refusalOf(join(root, 'notes.txt'))!, /not a \.safetensors file/);
  t.regex(roots.refusalOf(join(root, 'm', '..', '..', 'x.safetensors'))!, /ENOENT|outside/);
  t.regex(roots.refusalOf('m/model.safetensors')!, /not an absolute path/);
});

unless(NATS_MISSING, test.serial)('the coordinator refuses a model folder whose config, index or tokenizer files lead outside its roots', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const outside = tempDir();
  const good = join(root, 'good');
  synthesize('base', { out: good, shape: { layers: 1 } });
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  t.teardown(() => coordinator.close());
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());

  // Each folder is the good model with one file moved outside the root and linked back.
  const cases: [string, string][] = [['config.json', 'config.json'], ['tokenizer.json', 'tokenizer.json'], ['original/tokenizer.model', 'tokenizer.model']];
  for (const [name, secretName] of cases) {
    const folder = join(root, `linked-${secretName}`);
    synthesize('base', { out: folder, shape: { layers: 1 } });
    const secret = join(outside, `${secretName}-${name.length}`);
    writeFileSync(secret, secretName.endsWith('.json') ? '{"secret": "swordfish"}' : 'swordfish');
    if (name.includes('/')) mkdirSync(join(folder, 'original'), { recursive: true });
    if (existsSync(join(folder, name))) renameSync(join(folder, name), `${secret}.orig`);
    symlinkSync(secret, join(folder, name));
    const refused = await codeOf(rpc.submit({ jobId: `linked-${secretName.replace('.', '-')}`, modelA: folder, modelB: good }));
    t.is(refused.code, status.PERMISSION_DENIED, name);
    t.regex(refused.details, new RegExp(`${name.replace('.', '\\.')}: resolves to .*, outside the model roots`), name);
    t.notRegex(refused.details, /swordfish/);
  }
});

unless(NATS_MISSING, test.serial)('a worker refuses a signed task naming files outside its roots, or URLs unless allowed', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const outside = tempDir();
  const model = join(outside, 'm');
  synthesize('base', { out: model, shape: { layers: 1 } });
  const { nats, nc } = await natsServerAndClient(t);
  const worker = await startWorker({ clusterKey: CLUSTER_KEY, modelRoots: [root], nats: nats.url, threads: 1 });
  t.teardown(() => worker.stop());
  const outcomes: TaskOutcome[] = [];
  nc.subscribe('lineage.results.>', { callback: (_e, m) => { outcomes.push(decodeTaskResult(m.data)); } });

  const key = ClusterKey.load({ key: CLUSTER_KEY }, 'the test');
  const jobs = await new Kvm(nc).open(JOBS_BUCKET);
  await jobs.put('outside', sealValue(key, 'job-record', ['outside'], Buffer.from(JSON.stringify({ jobId: 'outside', state: 'RUNNING' }))));
  const ref = (file: string) => ({ file, offset: 8, byteLength: 64, dtype: 'BF16' as never, shape: [32] });
  const send = async (id: number, file: string) => {
    const task = { id, label: `t${id}`, bytes: 128, items: [{ index: 0, compare: true, sample: null, scalesA: null, scalesB: null, a: ref(file), b: ref(file) }] };
    const signed = signTask(key, { jobId: 'outside', task, hash: 'sha256', kernel: 'auto' });
    await jetstream(nc).publish(taskSubject('outside', id), signed.data, { headers: signed.headers });
    return waitFor(`the outcome of task ${id}`, () => outcomes.find((o) => o.taskId === id), 60_000);
  };
  const local = await send(0, join(model, 'model.safetensors'));
  t.regex(local.error ?? '', /^refused: .*model\.safetensors is outside this worker's model roots/);
  t.deepEqual(local.results, []);
  // A file outside the roots that does not exist is refused too (not retried elsewhere as a read failure).
  const absent = await send(2, join(outside, 'nope', 'model.safetensors'));
  t.regex(absent.error ?? '', /^refused: .*nope\/model\.safetensors is outside this worker's model roots/);
  const remote = await send(1, 'http://169.254.169.254/latest/meta-data.safetensors');
  t.regex(remote.error ?? '', /^refused: .*this worker does not read model URLs \(start it with --allow-urls\)/);
});
