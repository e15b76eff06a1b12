/** `lineage coordinator --nats URL --listen HOST:PORT --cluster-key FILE [--token T] [--model-root DIR]... [NATS options] [--tls-cert F --tls-key F]` */
import { UsageError } from '../../../core/src/errors.ts';
import { startCoordinator } from '../../../coordinator/src/index.ts';
import { numberOption, parseCommandLine } from '../args.ts';
import { SERVICE_OPTIONS, SERVICE_USAGE, serviceOptions } from '../cluster/service-options.ts';

const USAGE = `usage: lineage coordinator --nats URL [options]

Serves the Jobs API (gRPC) and runs jobs on the workers pulling from NATS JetStream.
Job state, results and reports live in JetStream: a restarted coordinator resumes its jobs.

options:
  --nats URL            NATS server(s), comma-separated (JetStream enabled)
  --listen HOST:PORT    gRPC address (default 127.0.0.1:50051)
  --token T             token clients must send (default: the LINEAGE_TOKEN environment variable; required)
  --model-root DIR      accept model paths only under DIR (repeatable; default: the working directory)
  --tls-cert FILE       serve gRPC over TLS with this PEM certificate chain ...
  --tls-key FILE        ... and this PEM private key
  --ack-wait SECONDS    a task held this long without a heartbeat is redelivered (default 30)
  --max-deliver N       deliveries of one task before it is given up as failed (default 5)
  --max-running-jobs N  jobs with tasks on the work queue at once (default 1); later ones wait,
                        queued, in submission order, so each takes about its own time
  --metrics-port N      serve Prometheus metrics at http://HOST:N/metrics (HOST of --listen)
  --allow-urls          accept http(s) model URLs (read with Range requests; off by default)
  --hub-token T         bearer token for model URLs (default HF_TOKEN)
  --replicas N          copies of every stream and bucket in a NATS cluster (default: its servers, at most 3)
  --max-age SECONDS     drop results, job records and reports older than this (default 0: keep until \`lineage delete\`)
  --max-bytes N         each stream and bucket holds at most N bytes (default: no limit)
  --quiet               no log lines on stderr
${SERVICE_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine('coordinator', argv, {
    nats: { type: 'string' }, listen: { type: 'string' }, token: { type: 'string' }, 'model-root': { type: 'string', multiple: true },
    ...SERVICE_OPTIONS, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
    replicas: { type: 'string' }, 'max-age': { type: 'string' }, 'max-bytes': { type: 'string' },
    'ack-wait': { type: 'string' }, 'max-deliver': { type: 'string' }, 'max-running-jobs': { type: 'string' }, 'metrics-port': { type: 'string' }, 'allow-urls': { type: 'boolean' }, 'hub-token': { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`lineage coordinator: unexpected argument '${positionals[0]}'`);
  if (!values.nats) throw new UsageError('lineage coordinator: --nats URL is required');
  const ackWait = numberOption('coordinator', 'ack-wait', values['ack-wait'], { min: 1, max: 3600 });
  const maxDeliver = numberOption('coordinator', 'max-deliver', values['max-deliver'], { integer: true, min: 1, max: 1000 });
  const maxRunningJobs = numberOption('coordinator', 'max-running-jobs', values['max-running-jobs'], { integer: true, min: 1, max: 1000 });
  const metricsPort = numberOption('coordinator', 'metrics-port', values['metrics-port'], { integer: true, min: 0, max: 65535 });
  const replicas = numberOption('coordinator', 'replicas', values.replicas, { integer: true, min: 1, max: 5 });
  const maxAge = numberOption('coordinator', 'max-age', values['max-age'], { min: 0 });
  const maxBytes = numberOption('coordinator', 'max-bytes', values['max-bytes'], { integer: true, min: 1 });
  const log = values.quiet ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const coordinator = await startCoordinator({
    nats: values.nats,
    listen: values.listen ?? '127.0.0.1:50051',
    token: values.token,
    modelRoots: values['model-root'],
    allowUrls: values['allow-urls'] ?? false,
    hubToken: values['hub-token'],
    ...serviceOptions(values),
    storage: { replicas, maxAgeMs: maxAge === undefined ? undefined : maxAge * 1000, maxBytes },
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
    ackWaitMs: ackWait === undefined ? undefined : ackWait * 1000,
    maxDeliver,
    maxRunningJobs,
    metricsPort,
    log,
  });
  await untilSignal();
  log?.('shutting down');
  await coordinator.close();
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM (a service runs until told to stop). */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
