/** Remote models on the cluster: the coordinator reads headers over HTTP, workers read only the ranges their tasks need. */
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { compareModels } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { startCoordinator } from '../coordinator/src/index.ts';
import { startWorker } from '../worker/src/index.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { codeOf, COORDINATOR, Rpc, TOKEN, WORKER } from './helpers/cluster.ts';
import { startNatsServer } from './helpers/nats-server.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { RangeServer } from './helpers/range-server.ts';
import { tempDir } from './helpers/tmpdir.ts';

const HUB_TOKEN = 'hf_cluster_test';

unless(NATS_MISSING)('a job on model URLs gives the weights of the local comparison; URLs are refused unless allowed', async (t) => {
  t.timeout(90_000);
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 2, experts: 4 }, shardBytes: 400_000 });
  synthesize('derivative', { out: derived, like: base, drift: 0.02, shardBytes: 400_000 });
  const server = await RangeServer.start({
    repos: { 'org/base': { folder: base, commit: 'a'.repeat(40) }, 'org/derived': { folder: derived, commit: 'b'.repeat(40) } },
    token: HUB_TOKEN, redirectWeights: true,
  });
  t.teardown(() => server.close());

  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const strict = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root] });
  const refused = await codeOf(new Rpc(strict.address).submit({ jobId: 'no-urls', modelA: server.folderUrl('org/base'), modelB: server.folderUrl('org/derived') }));
  t.is(refused.code, status.PERMISSION_DENIED);
  t.regex(refused.details, /--allow-urls/);
  await strict.close();

  const coordinator = await startCoordinator({ ...COORDINATOR, nats: nats.url, listen: '127.0.0.1:0', token: TOKEN, modelRoots: [root], allowUrls: true, hubToken: HUB_TOKEN });
  t.teardown(() => coordinator.close());
  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1, hubToken: HUB_TOKEN, allowUrls: true })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const rpc = new Rpc(coordinator.address);
  t.teardown(() => rpc.close());

  await rpc.submit({ jobId: 'remote', modelA: server.folderUrl('org/base'), modelB: server.folderUrl('org/derived'), options: { targetTaskBytes: 300_000 } });
  const last = (await rpc.watch('remote')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, last.error);
  const report = await rpc.report('remote') as Awaited<ReturnType<typeof compareModels>>;
  const local = await compareModels(base, derived, { targetTaskBytes: 300_000, threads: 1 });
  t.deepEqual(report.weights, local.weights);
  t.is(report.verdict.label, local.verdict.label);
  // The controls ran on the workers from the URLs (held to the planned version): the same as local ones.
  t.truthy(report.controls?.alignment, 'the aligned tests ran');
  t.deepEqual(report.controls, local.controls);
  t.truthy((report.models.a as { remote?: unknown }).remote, 'the report says which revision it read');
  t.true(server.requests.some((r) => r.range !== undefined && /safetensors/.test(r.path)), 'tensor bytes came over Range requests');
});
