/** `lineage worker --nats URL --cluster-key FILE [--model-root DIR]... [--allow-urls] [--threads N] [--kernel K] [NATS options]` */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { UsageError } from '../../../core/src/errors.ts';
import { KERNEL_CHOICES, type KernelChoice } from '../../../core/src/kernels/index.ts';
import { startWorker } from '../../../worker/src/index.ts';
import { numberOption, parseCommandLine } from '../args.ts';
import { SERVICE_OPTIONS, SERVICE_USAGE, serviceOptions } from '../cluster/service-options.ts';
import { untilSignal } from './coordinator.ts';

const USAGE = `usage: lineage worker --nats URL [options]

Pulls comparison tasks from NATS JetStream, reads the tensors (model folders must be at the same
paths as on the coordinator: a shared filesystem) and publishes partial statistics. It runs only
tasks signed with the cluster key, and reads only files under its model roots, whatever a task says.

options:
  --nats URL            NATS server(s), comma-separated
  --threads N           tasks run at once, one thread each (default: all cores, ${availableParallelism()} here)
  --kernel auto|wasm-simd|js|gpu.js   kernel for jobs that leave the choice to workers (default auto)
  --reader pread|mmap   how tensor bytes are read (default pread)
  --model-root DIR      read tensor files only under DIR (repeatable; default: the working directory)
  --allow-urls          run tasks that read http(s) model URLs (off by default)
  --id NAME             worker name in heartbeats and results (default host-pid-random)
  --metrics-port N      serve Prometheus metrics at http://HOST:N/metrics
  --metrics-host HOST   address the metrics endpoint binds to (default 0.0.0.0; 127.0.0.1 keeps it local)
  --drain-seconds S     on SIGTERM, let running tasks finish for up to S seconds before handing
                        them back (default 25); a second SIGTERM stops at once
  --hub-token T         bearer token for tasks that read model URLs (default HF_TOKEN)
  --quiet               no log lines on stderr
${SERVICE_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('worker', argv, {
    nats: { type: 'string' }, threads: { type: 'string' }, kernel: { type: 'string' }, reader: { type: 'string' },
    ...SERVICE_OPTIONS, 'model-root': { type: 'string', multiple: true }, 'allow-urls': { type: 'boolean' }, id: { type: 'string' }, 'metrics-port': { type: 'string' }, 'metrics-host': { type: 'string' }, 'drain-seconds': { type: 'string' }, 'hub-token': { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`lineage worker: unexpected argument '${positionals[0]}'`);
  if (!values.nats) throw new UsageError('lineage worker: --nats URL is required');
  const kernel = (values.kernel ?? 'auto') as KernelChoice;
  if (!KERNEL_CHOICES.includes(kernel)) throw new UsageError(`lineage worker: --kernel must be one of ${KERNEL_CHOICES.join(', ')}, got '${values.kernel}'`);
  const reader = values.reader ?? 'pread';
  if (reader !== 'pread' && reader !== 'mmap') throw new UsageError(`lineage worker: --reader must be pread or mmap, got '${reader}'`);
  const threads = numberOption('worker', 'threads', values.threads, { integer: true, min: 1, max: 256 });
  const metricsPort = numberOption('worker', 'metrics-port', values['metrics-port'], { integer: true, min: 0, max: 65535 });
  const metricsHost = values['metrics-host'];
  if (metricsHost !== undefined && !isIP(metricsHost) && metricsHost !== 'localhost') {
    throw new UsageError(`lineage worker: --metrics-host must be an IP address or localhost, got '${metricsHost}'`);
  }
  const drainSeconds = numberOption('worker', 'drain-seconds', values['drain-seconds'], { min: 0, max: 3600 });
  const drainGraceMs = drainSeconds === undefined ? undefined : drainSeconds * 1000;
  const log = values.quiet ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const worker = await startWorker({
    nats: values.nats, threads, kernel, reader, id: values.id, metricsPort, metricsHost, drainGraceMs, hubToken: values['hub-token'], log,
    ...serviceOptions(values), modelRoots: values['model-root'], allowUrls: values['allow-urls'] ?? false,
  });
  await untilSignal();
  log?.(`worker ${worker.id} stopping`);
  await worker.stop();
  return 0;
}
