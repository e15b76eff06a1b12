/** `lineage watch JOB [--quiet]`: follows a job to its end; exit status 0 when it is done. */
import { parseCommandLine, requirePositionals } from '../args.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectFromCommandLine } from '../cluster/cli-connection.ts';
import { followJob, formatFinalLine } from '../cluster/job-progress.ts';

const USAGE = `usage: lineage watch JOB [options]

Follows a job until it is done, failed or cancelled: a progress bar (tasks, bytes, rate, ETA)
on stderr, then the final state on stdout. Exit status 0 when the job is done, 1 otherwise.

options:
  --quiet                  print only the final state

${CONNECTION_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('watch', argv, {
    ...CONNECTION_OPTIONS, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [jobId] = requirePositionals('watch', positionals, ['JOB']);
  const client = await connectFromCommandLine('watch', values);
  try {
    const final = await followJob(client, jobId!, values.quiet ? null : process.stderr);
    process.stdout.write(formatFinalLine(final) + '\n');
    return final.state === 'done' ? 0 : 1;
  } finally {
    await client.close();
  }
}
