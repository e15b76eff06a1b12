/**
 * A control task whose remote model opening itself fails (a read that gives up after its retries)
 * still leaves the opening's fetches in the task's read-log folder, as a finished opening does:
 * the worker sends that folder back with the failure. The log is honest: every run's SHA-256 is
 * that of the served file's bytes, the retries are counted, and the coordinator's checks keep it
 * whole (nothing dropped, so LineageReadLogEntriesDropped stays quiet for an honest worker).
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRemoteCheckpoint, openLogOfFailure } from '../core/src/checkpoint/remote.ts';
import { prepareComparison } from '../core/src/compare/model-report.ts';
import { taskModels, type ControlTask } from '../core/src/controls/tasks.ts';
import { run as runThreadTask } from '../core/src/controls/thread-task.ts';
import type { ReadLog } from '../core/src/io/read-log.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { checkReadLog } from '../coordinator/src/read-logs.ts';
import { RangeServer } from './helpers/range-server.ts';
import { tempDir } from './helpers/tmpdir.ts';

const COMMIT_A = 'a1'.repeat(20);

test('a control task whose model opening gives up after its retries leaves the opening\'s fetches in its read log', async (t) => {
  const root = tempDir();
  const [a, b] = [join(root, 'a'), join(root, 'b')];
  synthesize('base', { out: a, shape: { layers: 2 } });
  synthesize('derivative', { out: b, like: a, drift: 0.02 });
  const server = await RangeServer.start({ repos: { 'org/a': { folder: a, commit: COMMIT_A }, 'org/b': { folder: b, commit: 'b2'.repeat(20) } } });
  t.teardown(() => server.close());
  const prepared = await prepareComparison(server.folderUrl('org/a'), server.folderUrl('org/b'));
  t.true(isRemoteCheckpoint(prepared.a));
  const files = new Map([prepared.a, prepared.b].flatMap((ck) => (isRemoteCheckpoint(ck) ? ck.remote.files.map((f) => [f.url, f.size] as [string, number]) : [])));
  const task: ControlTask = { id: 0, label: 'layers', models: taskModels(prepared.a, prepared.b), seed: 1, part: { kind: 'layers' } };

  // Model A's weights answer 503 to every request: its opening reads the small files, then gives up on the shard header.
  server.inject({ kind: '503', match: /org\/a\/.*\.safetensors/, times: 1_000 });
  const logDir = tempDir('lineage-open-log-');
  const remote = { logDir, retries: 1, backoffMs: 1, maxBackoffMs: 1 };
  const err = await t.throwsAsync(runThreadTask({ task, session: 'failed-opening', remote }, null as never));
  t.regex(err!.message, /gave up after 2 attempts/);

  const written = readdirSync(logDir);
  t.is(written.length, 1, written.join(', '));
  t.regex(written[0]!, /^open-.*\.json$/);
  const log = JSON.parse(readFileSync(join(logDir, written[0]!), 'utf8')) as ReadLog;
  // The small files it read whole, each run hashed as served (the files as they lie in the served folder).
  const config = log.runs.find((r) => r.url.endsWith('/config.json'));
  t.truthy(config, 'config.json is in the log');
  t.true(config!.url.includes(`/resolve/${COMMIT_A}/`), 'named by the pinned commit');
  for (const run of log.runs) {
    const name = decodeURIComponent(run.url.split('/').at(-1)!);
    const bytes = readFileSync(join(a, name)).subarray(run.start, run.end);
    t.is(run.end - run.start, bytes.length, `${name}: the run lies inside the file`);
    t.is(run.sha256, createHash('sha256').update(bytes).digest('hex'), `${name}: its hash`);
  }
  // The shard it gave up on: two requests, one retry, no body.
  const shards = Object.entries(log.stats).filter(([url]) => url.endsWith('.safetensors'));
  t.true(shards.length >= 1);
  for (const [url, s] of shards) t.deepEqual(s, { requests: 2, retries: 1, bytes: 0 }, url);
  // The coordinator takes it whole: an honest failed opening drops nothing.
  const checked = checkReadLog({ log, omitted: null }, files);
  t.is(checked.dropped, 0, checked.notes.join('; '));
  t.deepEqual(checked.log.runs, log.runs);
});

test('an error that did not come from an opening has no opening log', (t) => {
  t.is(openLogOfFailure(new Error('not an opening')), null);
  t.is(openLogOfFailure('a string'), null);
  t.is(openLogOfFailure(null), null);
});
