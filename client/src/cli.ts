/**
 * The `lineage` command line: a table of commands, each in its own module under commands/,
 * loaded only when used so that `lineage arch` does not pay for the weight kernels.
 */
import { createRequire } from 'node:module';
import { isBadInput, LineageError } from '../../core/src/errors.ts';

export interface CommandModule {
  /** Runs the command; resolves to the exit status. */
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  compare: { summary: 'compare two models (weights, architecture, tokenizer) and give a verdict', load: () => import('./commands/compare.ts') },
  arch: { summary: 'compare two architectures (config.json) and their parameter counts', load: () => import('./commands/arch.ts') },
  tokenizer: { summary: 'compare two tokenizers', load: () => import('./commands/tokenizer.ts') },
  synth: { summary: 'write a synthetic checkpoint (base, derivative, independent)', load: () => import('./commands/synth.ts') },
  probe: { summary: 'compare what two models do on the same probes (behavioural evidence)', load: () => import('./commands/probe.ts') },
  coordinator: { summary: 'run the cluster coordinator (gRPC API, plans and merges jobs over NATS JetStream)', load: () => import('./commands/coordinator.ts') },
  worker: { summary: 'run a cluster worker (pulls tasks from NATS JetStream)', load: () => import('./commands/worker.ts') },
  submit: { summary: 'submit a comparison to a coordinator and print its job id', load: () => import('./commands/submit.ts') },
  watch: { summary: "follow a cluster job's progress to its end", load: () => import('./commands/watch.ts') },
  report: { summary: "print or save a finished cluster job's report", load: () => import('./commands/report.ts') },
  jobs: { summary: "list a coordinator's jobs", load: () => import('./commands/jobs.ts') },
  cancel: { summary: 'cancel a queued or running cluster job', load: () => import('./commands/cancel.ts') },
  delete: { summary: 'delete a cluster job: its record, report and messages', load: () => import('./commands/delete.ts') },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['usage: lineage <command> [options]', '', 'commands:', ...lines, '', "run 'lineage <command> --help' for a command's options; 'lineage --version' for the version"].join('\n');
}

/** From the sources the repository's package.json; built, dist/package.json (written by the build with the same version). */
function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V') {
    process.stdout.write(`lineage ${version()}\n`);
    return 0;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`lineage: unknown command '${name}'\n${usage()}\n`);
    return 2;
  }
  try {
    const module = await command.load();
    return await module.run(rest);
  } catch (err) {
    // Usage errors name their command already; the rest get it here.
    const line = (err: Error) => (err.message.startsWith('lineage ') ? err.message : `lineage ${name}: ${err.message}`);
    if (isBadInput(err)) {
      process.stderr.write(`${line(err)}\n`);
      return 2;
    }
    if (err instanceof LineageError) {
      process.stderr.write(`${line(err)}\n`);
      return 1;
    }
    process.stderr.write(`lineage ${name}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
