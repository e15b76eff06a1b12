/**
 * The controls on the cluster (issue 12): a second phase of tasks on the same work queue, run by
 * the workers. A worker killed while it holds a control task changes nothing (the task is
 * redelivered, the report equals the local one); a job cancelled during its controls ends
 * cancelled at once, and the control tasks left on the queue are dropped; control tasks a worker
 * refuses leave the job done, each control unavailable with the reason.
 */
import test from 'ava';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareModels, type ComparisonReport } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { addNoise, keepLayers, permuteHeads, replaceEmbeddings, rotateHidden } from '../core/src/synth/transforms.ts';
import { startWorker } from '../worker/src/index.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';
import { waitFor, WORKER } from './helpers/cluster.ts';
import { jobTasksFilter, taskSubject, TASKS_STREAM } from '../proto/jetstream.ts';
import { recordResults, testCluster, workerProcess } from './helpers/test-cluster.ts';
import { NATS_MISSING, unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const TASK_BYTES = 400_000;

function modelPair() {
  const root = tempDir();
  const base = join(root, 'base');
  const derived = join(root, 'derived');
  synthesize('base', { out: base, shape: { layout: 'moe', layers: 4, experts: 6 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.02 });
  return { root, base, derived };
}

unless(NATS_MISSING, test.serial)('a worker killed while it holds a control task: the task is redelivered and the report equals the local one', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  // A short lease, so the dead worker's control task comes back within the test.
  const { nats, rpc } = await testCluster(t, root, { ackWaitMs: 1_500 });
  const { outcomes } = await recordResults(nats.url, t);

  // Alone at first, so that it runs the weights pass and then takes a control task.
  const { child, log } = await workerProcess(t, nats.url, 'doomed', ['--model-root', root]);

  const submitted = await rpc.submit({ jobId: 'ctl-kill', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  const total = submitted.job!.tasksTotal;
  const held = Number(await waitFor('the worker to take a control task', () => /started task ctl-kill\/(\d+) \(control:/.exec(log())?.[1], 120_000));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  t.true(held >= total, `task ${held} is a control task (the weights pass has ${total})`);
  t.false(outcomes.some((o) => o.taskId === held), 'the killed worker did not answer it');

  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, nats: nats.url, threads: 1 })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  const statuses = await rpc.watch('ctl-kill');
  const last = statuses.at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE);
  // Watch shows the phase: the controls' tasks counted as they are answered.
  const inControls = statuses.filter((s) => s.phase === 'controls');
  t.true(inControls.length > 0 && inControls.every((s) => s.controlsTotal > 0 && s.controlsDone <= s.controlsTotal), 'statuses in the controls phase');
  t.is(last.phase, '', 'an ended job has no phase');
  const again = outcomes.find((o) => o.taskId === held);
  t.truthy(again, 'the control task was answered after all');
  t.true(again!.attempt >= 2, `delivered again (attempt ${again!.attempt})`);

  const report = await rpc.report('ctl-kill') as ComparisonReport;
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });
  const { run: _clusterRun, ...cluster } = report;
  const { run: _localRun, ...inProcess } = local;
  t.deepEqual(cluster, inProcess);
  t.deepEqual(report.controls!.unavailable, []);
  t.is(report.run.controls!.tasks, local.run.controls!.tasks);
});

unless(NATS_MISSING, test.serial)('the controls start beside the weights pass: their first tasks are queued with the weights tasks at once, the job still in its weights phase; the report equals the local one', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  const { nats, rpc, jsm: jsmOf } = await testCluster(t, root);
  const jsm = await jsmOf();
  // A tensor a task: a weights pass of many tasks, long enough to be seen running.
  const options = { hash: '', kernel: '', targetTaskBytes: 1 };
  const submitted = await rpc.submit({ jobId: 'ctl-early', modelA: base, modelB: derived, options });
  const total = submitted.job!.tasksTotal;
  // No worker yet: every weights task is queued, and the hidden and layer alignments (ahead of them).
  const ids = async () => Object.keys((await jsm.streams.info(TASKS_STREAM, { subjects_filter: jobTasksFilter('ctl-early') })).state.subjects ?? {}).map((s) => Number(s.split('.').pop())).sort((x, y) => x - y);
  const queued = await waitFor('the controls\' first tasks on the queue', async () => { const q = await ids(); return q.length === total + 2 ? q : null; });
  t.deepEqual(queued, Array.from({ length: total + 2 }, (_, i) => i));
  // Ahead of them on the queue (the hidden alignment is the longest control; the cells wait on it).
  const seq = async (id: number) => (await jsm.streams.getMessage(TASKS_STREAM, { last_by_subj: taskSubject('ctl-early', id) }))!.seq;
  const weightsFirst = Math.min(...await Promise.all(queued.filter((id) => id < total).map(seq)));
  for (const id of [total, total + 1]) t.true(await seq(id) < weightsFirst, `control task ${id} queued ahead of the weights pass`);

  // While the weights pass runs, the job's phase is the weights' (its control tasks already published).
  const watched = rpc.watch('ctl-early');
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1 });
  t.teardown(() => worker.stop());
  const statuses = await watched;
  t.is(statuses.at(-1)!.state, JobState.JOB_STATE_DONE);
  const seen = statuses.filter((s) => s.state === JobState.JOB_STATE_RUNNING && s.tasksDone + s.tasksFailed < total).map((s) => s.phase);
  t.log(`${seen.length} of ${statuses.length} statuses during the weights pass`);
  t.true(seen.length > 0, 'the job was seen running its weights pass');
  t.deepEqual([...new Set(seen)], ['weights']);

  const report = await rpc.report('ctl-early') as ComparisonReport;
  t.true((report.run.controls!.besideWeightsSeconds ?? 0) > 0, 'the report says the controls started beside the weights pass');
  const local = await compareModels(base, derived, { targetTaskBytes: 1 });
  const { run: _clusterRun, ...cluster } = report;
  const { run: _localRun, ...inProcess } = local;
  t.deepEqual(cluster, inProcess);
  t.is(report.run.controls!.tasks, local.run.controls!.tasks);
});

unless(NATS_MISSING, test.serial)('a job cancelled during its controls ends cancelled at once; its control tasks are dropped', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  const { nats, rpc } = await testCluster(t, root);
  const { outcomes } = await recordResults(nats.url, t);

  const submitted = await rpc.submit({ jobId: 'ctl-cancel', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  const total = submitted.job!.tasksTotal;
  const lines: string[] = [];
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 1, log: (line) => lines.push(line) });
  t.teardown(() => worker.stop());
  // The first control answer is in: the controls phase is under way.
  await waitFor('a control task answered', () => outcomes.some((o) => o.taskId >= total), 120_000);
  const cancelled = await rpc.cancel('ctl-cancel');
  t.is(cancelled.state, JobState.JOB_STATE_CANCELLED);
  const last = (await rpc.watch('ctl-cancel')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_CANCELLED, 'it stays cancelled (the controls did not turn it into failed or done)');
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const answered = new Set(outcomes.filter((o) => o.taskId >= total).map((o) => o.taskId)).size;
  t.true(lines.filter((l) => /started task ctl-cancel\/\d+ \(control:/.test(l)).length <= answered + 1, 'no control task started after the cancel but the one running');
  const listed = await rpc.list();
  t.is(listed.find((j) => j.jobId === 'ctl-cancel')!.state, JobState.JOB_STATE_CANCELLED);
});

unless(NATS_MISSING, test.serial)('control tasks the workers refuse: the job is done, each control unavailable with the reason', async (t) => {
  t.timeout(180_000);
  const { root, base, derived } = modelPair();
  // A file of B's folder leads outside the workers' root (but inside the coordinator's): the
  // weights pass reads only shards and runs; a control task names the folder, which workers refuse.
  const elsewhere = tempDir();
  writeFileSync(join(elsewhere, 'NOTES.md'), 'kept elsewhere\n');
  symlinkSync(join(elsewhere, 'NOTES.md'), join(derived, 'NOTES.md'));
  const { nats, rpc } = await testCluster(t, root, { modelRoots: [root, elsewhere] });
  const workers = await Promise.all([1, 2].map(() => startWorker({ ...WORKER, modelRoots: [root], nats: nats.url, threads: 1 })));
  t.teardown(() => Promise.all(workers.map((w) => w.stop())));
  await rpc.submit({ jobId: 'ctl-refused', modelA: base, modelB: derived, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  const last = (await rpc.watch('ctl-refused')).at(-1)!;
  t.is(last.state, JobState.JOB_STATE_DONE, 'the job is done: a control is evidence, not the job');
  const report = await rpc.report('ctl-refused') as ComparisonReport;
  const local = await compareModels(base, derived, { targetTaskBytes: TASK_BYTES });
  t.deepEqual(report.weights, local.weights, 'the weights pass is whole');
  const unavailable = report.controls!.unavailable;
  t.deepEqual([...new Set(unavailable.map((u) => u.control))].sort(), ['alignment', 'experts', 'layers', 'neurons'], 'every control planned is unavailable');
  t.true(unavailable.every((u) => /refused: .*NOTES\.md.*outside the model roots/.test(u.reason)), unavailable[0]?.reason);
  t.is(report.controls!.alignment, null);
  t.true(report.verdict.evidence.some((e) => /control unavailable/.test(e.signal)), 'the verdict says which controls it lacked');
});

unless(NATS_MISSING, test.serial)('a rotated copy on the cluster: the cells tasks carry the token basis (or, its token interface replaced, the block bases), the workers build it, and the report equals the local one; a layer removed with heads permuted, its layers paired by a worker\'s circuits task', async (t) => {
  t.timeout(180_000);
  const root = tempDir();
  const base = join(root, 'base');
  synthesize('base', { out: base, shape: { layers: 2, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 7 });
  const rotated = addNoise(rotateHidden(base, join(root, 'rotated-raw'), 8), join(root, 'rotated'), 0.01, 9);
  const { nats, rpc } = await testCluster(t, root);
  const worker = await startWorker({ ...WORKER, nats: nats.url, threads: 2 });
  t.teardown(() => worker.stop());
  await rpc.submit({ jobId: 'ctl-rotated', modelA: base, modelB: rotated, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  t.is((await rpc.watch('ctl-rotated')).at(-1)!.state, JobState.JOB_STATE_DONE);
  const report = await rpc.report('ctl-rotated') as ComparisonReport;
  t.is(report.controls!.alignment!.hidden!.rotated?.tokens, 256);
  t.is(report.verdict.label, 'derived', report.verdict.summary);
  const local = await compareModels(base, rotated, { targetTaskBytes: TASK_BYTES });
  const { run: _clusterRun, ...cluster } = report;
  const { run: _localRun, ...inProcess } = local;
  t.deepEqual(cluster, inProcess);

  const newInterface = addNoise(replaceEmbeddings(join(root, 'rotated-raw'), join(root, 'new-raw'), 10), join(root, 'new-interface'), 0.01, 11);
  await rpc.submit({ jobId: 'ctl-new-interface', modelA: base, modelB: newInterface, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  t.is((await rpc.watch('ctl-new-interface')).at(-1)!.state, JobState.JOB_STATE_DONE);
  const blocks = await rpc.report('ctl-new-interface') as ComparisonReport;
  t.deepEqual(blocks.controls!.alignment!.hidden!.blockBasis, { probes: 256 });
  t.is(blocks.verdict.label, 'partially-derived', blocks.verdict.summary);
  const { run: _blocksRun, ...blocksCluster } = blocks;
  const { run: _blocksLocalRun, ...blocksLocal } = await compareModels(base, newInterface, { targetTaskBytes: TASK_BYTES });
  t.deepEqual(blocksCluster, blocksLocal);

  // A layer removed and the heads permuted: the layers task (alignment.layers) runs on the worker too.
  const deep = join(root, 'deep');
  synthesize('base', { out: deep, shape: { layers: 4, hidden: 96, intermediate: 256, heads: 4, kvHeads: 2, vocab: 1500 }, seed: 12 });
  const pruned = addNoise(permuteHeads(keepLayers(deep, join(root, 'pruned-raw'), [0, 1, 3]), join(root, 'pruned-heads'), 13), join(root, 'pruned'), 0.01, 14);
  await rpc.submit({ jobId: 'ctl-pruned', modelA: deep, modelB: pruned, options: { hash: '', kernel: '', targetTaskBytes: TASK_BYTES } });
  t.is((await rpc.watch('ctl-pruned')).at(-1)!.state, JobState.JOB_STATE_DONE);
  const depth = await rpc.report('ctl-pruned') as ComparisonReport;
  t.is(depth.controls!.alignment!.layerPairing, 'layer circuits');
  t.is(depth.verdict.label, 'derived', depth.verdict.summary);
  const { run: _depthRun, ...depthCluster } = depth;
  const { run: _depthLocalRun, ...depthLocal } = await compareModels(deep, pruned, { targetTaskBytes: TASK_BYTES });
  t.deepEqual(depthCluster, depthLocal);
});
