/**
 * A real Prometheus (Debian package `prometheus`) for tests: its own store in a temporary folder,
 * a free loopback port, 1 s scrapes and rule evaluations, the given targets and rule files.
 * `value(expr)` runs an instant query and gives its first sample (null when none).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './cluster.ts';
import { tempDir } from './tmpdir.ts';

export const PROMETHEUS_BINARY = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p)) ?? null;
export const PROMETHEUS_MISSING = PROMETHEUS_BINARY ? null : 'prometheus is not installed (Debian package prometheus)';

export interface Prometheus {
  /** http://127.0.0.1:PORT */
  api: string;
  /** The first sample of an instant query, or null when it returns none. */
  value(expr: string): Promise<number | null>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', () => { clearTimeout(force); resolve(); });
    proc.kill('SIGTERM');
  });
}

/** Starts Prometheus scraping `targets` (job name → HOST:PORT list) with `ruleFiles`; resolves once it is ready. */
export async function startPrometheus(targets: Record<string, string[]>, ruleFiles: string[] = []): Promise<Prometheus> {
  if (!PROMETHEUS_BINARY) throw new Error(PROMETHEUS_MISSING!);
  const dir = tempDir('lineage-prometheus-');
  const port = await freePort();
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, [
    'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', '  evaluation_interval: 1s',
    'rule_files:', ...ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
    'scrape_configs:',
    ...Object.entries(targets).flatMap(([job, addresses]) => [
      `  - job_name: ${job}`, '    static_configs:', `      - targets: [${addresses.map((a) => JSON.stringify(a)).join(', ')}]`,
    ]),
    '',
  ].join('\n'));
  const proc = spawn(PROMETHEUS_BINARY, [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  process.once('exit', () => proc.kill('SIGKILL'));
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => { if (log.length < 100_000) log += c; });
  const api = `http://127.0.0.1:${port}`;
  await waitFor('Prometheus to be ready', async () => {
    if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}:\n${log}`);
    return fetch(`${api}/-/ready`).then((r) => r.ok, () => false);
  }, 60_000);
  return {
    api,
    async value(expr) {
      const url = new URL('/api/v1/query', api);
      url.searchParams.set('query', expr);
      const body = await (await fetch(url)).json() as { status: string; error?: string; data?: { result?: { value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
      const first = body.data?.result?.[0];
      return first ? Number(first.value[1]) : null;
    },
    stop: () => stopProcess(proc),
  };
}
