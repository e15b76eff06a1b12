/** `lineage report JOB [--json FILE] [--md FILE] [--html FILE] [--quiet]`: the report of a finished job, as `lineage compare` writes it. */
import { parseCommandLine, requirePositionals } from '../args.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectFromCommandLine } from '../cluster/cli-connection.ts';
import { writeReport } from '../report/write.ts';

const USAGE = `usage: lineage report JOB [options]

Prints the summary of a finished job's report, as \`lineage compare\` prints it.

options:
  --json FILE              write the full report as JSON (as \`lineage compare --json\`)
  --md FILE                write it as Markdown (as \`lineage compare --md\`)
  --html FILE              write it as one self-contained HTML page (as \`lineage compare --html\`)
  --quiet                  no summary on stdout

${CONNECTION_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('report', argv, {
    ...CONNECTION_OPTIONS, json: { type: 'string' }, md: { type: 'string' }, html: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [jobId] = requirePositionals('report', positionals, ['JOB']);
  const client = await connectFromCommandLine('report', values);
  try {
    writeReport(await client.report(jobId!), { json: values.json, md: values.md, html: values.html, quiet: values.quiet });
    return 0;
  } finally {
    await client.close();
  }
}
