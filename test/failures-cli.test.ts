/**
 * The smaller command-line items of issue 14: the help of compare, report, submit and worker
 * lists their options; worker options are checked; the progress bar says the report is being
 * built once every result is in, instead of sitting at 100% with ETA 0.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { formatProgressLine } from '../client/src/cluster/job-progress.ts';
import { jobInfo } from '../client/src/sdk/job.ts';
import { JobState } from '../proto/lineage/v1/lineage.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));
const lineage = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

for (const [command, options] of [
  ['compare', ['--md FILE', '--html FILE', '--json FILE']],
  ['report', ['--md FILE', '--html FILE', '--json FILE']],
  ['submit', ['--sample F', '--confidence C', '--seed N']],
  ['worker', ['--metrics-host HOST', '--drain-seconds S']],
] as const) {
  test(`${command} --help lists ${options.join(', ')}`, (t) => {
    const run = lineage([command, '--help']);
    t.is(run.status, 0, run.stderr);
    for (const option of options) t.true(run.stdout.includes(option), `${option} in:\n${run.stdout}`);
  });
}

test('worker: a --metrics-host that is not an address, or a --drain-seconds that is not a number, is bad usage (exit 2, one line)', (t) => {
  for (const [args, message] of [
    [['--metrics-host', 'example.org'], /--metrics-host must be an IP address or localhost, got 'example.org'/],
    [['--drain-seconds', 'soon'], /drain-seconds/],
  ] as const) {
    const run = lineage(['worker', '--nats', 'nats://127.0.0.1:1', ...args]);
    t.is(run.status, 2, run.stderr);
    t.regex(run.stderr, message);
    t.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});

test('submit: --sample outside (0, 1] is bad usage before anything is sent', (t) => {
  const run = lineage(['submit', 'a', 'b', '--sample', '1.5', '--coordinator', '127.0.0.1:1']);
  t.is(run.status, 2, run.stderr);
  t.regex(run.stderr, /sample/);
});

test('with every result in and the job still running, the bar says the report is being built (no ETA 0)', (t) => {
  const status = {
    jobId: 'j', state: JobState.JOB_STATE_RUNNING, tasksTotal: 4, tasksDone: 4, tasksFailed: 0, bytesTotal: 4e9, bytesDone: 4e9,
    createdAtMs: 1_700_000_000_000, updatedAtMs: 1_700_000_005_000, error: '',
  };
  const line = formatProgressLine(jobInfo(status as Parameters<typeof jobInfo>[0]), 1e9);
  t.is(line, `[${'#'.repeat(30)}] 4/4 tasks  4.00/4.00 GB  building the report`);
  t.regex(formatProgressLine(jobInfo({ ...status, tasksDone: 3, bytesDone: 3e9 } as Parameters<typeof jobInfo>[0]), 1e9), /ETA 1\.0 s$/);
});
