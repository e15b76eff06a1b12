/**
 * Start-up of the command line (part of `npm run bench`; alone: `node --import tsx bench/startup.ts`):
 * wall time of `lineage --version` and of a tiny comparison (two 3 MB synthetic models), from the
 * build (dist/, what the package and ./lineage run) and from the sources through tsx (what the
 * tests run), median of a few runs each. Goal: under 0.3 s from the build.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../core/src/synth/synth.ts';
import { BUILT, buildIsStale, SOURCES } from './built.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GOAL_SECONDS = 0.3;

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timed(entry: string, args: string[], runs: number): number {
  const seconds: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [entry, ...args], { encoding: 'utf8' });
    seconds.push((performance.now() - t0) / 1000);
    if (r.status !== 0) throw new Error(`lineage ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  return median(seconds);
}

export async function benchStartup(root: string): Promise<void> {
  if (buildIsStale()) {
    console.log('building dist/ (npm run build) …');
    execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  }
  const dir = join(root, 'startup');
  const a = join(dir, 'base');
  const b = join(dir, 'derived');
  if (!existsSync(join(b, 'config.json'))) {
    mkdirSync(dir, { recursive: true });
    synthesize('base', { out: a });
    synthesize('derivative', { out: b, like: a, drift: 0.02 });
  }
  const mb = (statSync(join(a, 'model.safetensors')).size / 1e6).toFixed(1);
  const compare = ['compare', a, b, '--quiet'];
  const rows: [string, string, string[], number][] = [
    ['lineage --version', BUILT, ['--version'], 7],
    ['lineage arch A B (configs only)', BUILT, ['arch', a, b], 5],
    [`lineage compare (${mb} MB a side), --threads 1`, BUILT, [...compare, '--threads', '1'], 3],
    [`lineage compare (${mb} MB a side), --threads 2`, BUILT, [...compare, '--threads', '2'], 3],
    ['lineage --version, from the sources (tsx)', SOURCES, ['--version'], 3],
    [`lineage compare (${mb} MB a side), --threads 1, from the sources (tsx)`, SOURCES, [...compare, '--threads', '1'], 3],
  ];
  console.log(`start-up (wall time, median; goal < ${GOAL_SECONDS} s from the build, dist/):`);
  for (const [name, entry, args, runs] of rows) {
    const seconds = timed(entry, args, runs);
    const verdict = entry === BUILT ? (seconds < GOAL_SECONDS ? '  within the goal' : '  over the goal') : '';
    console.log(`  ${name.padEnd(66)} ${seconds.toFixed(2).padStart(5)} s  (${runs} runs)${verdict}`);
  }
  console.log(`  (command: node ${BUILT.replace(ROOT, '')} ${['compare', 'A', 'B', '--quiet', '--threads', '1'].join(' ')})`);
  // Where a tiny comparison's time goes: the process's start-up and the report's writing (wall
  // time less the comparison's own run.durationSeconds), the weights pass, and the controls.
  const json = join(dir, 'startup-report.json');
  for (const threads of ['1', '2']) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [BUILT, ...compare, '--threads', threads, '--json', json], { encoding: 'utf8' });
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`lineage compare exited ${r.status}: ${r.stderr}`);
    const run = (JSON.parse(readFileSync(json, 'utf8')) as { run: { durationSeconds: number; controls?: { seconds: number; besideWeightsSeconds?: number } } }).run;
    const controls = run.controls?.seconds ?? 0;
    const beside = run.controls?.besideWeightsSeconds;
    console.log(`  tiny comparison, --threads ${threads}: ${wall.toFixed(2)} s = start-up and report ${(wall - run.durationSeconds).toFixed(2)} s`
      + ` (goal < ${GOAL_SECONDS} s: ${wall - run.durationSeconds < GOAL_SECONDS ? 'within' : 'over'}) + weights pass ${(run.durationSeconds - controls).toFixed(2)} s`
      + `${beside ? ` (the controls' first tasks beside it for ${beside.toFixed(2)} s)` : ''} + controls after it ${controls.toFixed(2)} s`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchStartup(fileURLToPath(new URL('../.bench/', import.meta.url)));
