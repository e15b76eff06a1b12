/** `lineage jobs [--json FILE]`: the jobs a coordinator knows, newest first. */
import { writeFileSync } from 'node:fs';
import { BadInputError, UsageError } from '../../../core/src/errors.ts';
import { parseCommandLine } from '../args.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectFromCommandLine } from '../cluster/cli-connection.ts';
import type { JobInfo } from '../sdk/job.ts';

const USAGE = `usage: lineage jobs [options]

Lists the coordinator's jobs, newest first: id, state, tasks, bytes, when submitted, models.

options:
  --json FILE              write the list as JSON ({"jobs": [...]})

${CONNECTION_USAGE}`;

export function formatJobTable(jobs: JobInfo[]): string {
  if (jobs.length === 0) return 'no jobs';
  const rows = jobs.map((j) => [
    j.jobId,
    j.state,
    `${j.tasksDone}/${j.tasksTotal}${j.tasksFailed ? ` (${j.tasksFailed} failed)` : ''}`,
    `${(j.bytesTotal / 1e9).toFixed(2)} GB`,
    j.createdAt ? j.createdAt.toISOString().replace(/\.\d+Z$/, 'Z') : '—',
    `${j.modelA}  ${j.modelB}${j.error ? `  (${j.error})` : ''}`,
  ]);
  const header = ['JOB', 'STATE', 'TASKS', 'SIZE', 'SUBMITTED', 'MODELS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('jobs', argv, {
    ...CONNECTION_OPTIONS, json: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length) throw new UsageError(`lineage jobs: takes no arguments, got '${positionals.join(' ')}'`);
  const client = await connectFromCommandLine('jobs', values);
  try {
    const jobs = (await client.list()).sort((x, y) => (y.createdAt?.getTime() ?? 0) - (x.createdAt?.getTime() ?? 0));
    if (values.json !== undefined) {
      try {
        writeFileSync(values.json, JSON.stringify({ jobs }, null, 2) + '\n');
      } catch (err) {
        throw new BadInputError(values.json, `cannot write the list (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    process.stdout.write(formatJobTable(jobs) + '\n');
    return 0;
  } finally {
    await client.close();
  }
}
