/**
 * `lineage compare` on local models whose shard fails under it after planning, as the command
 * line reports it. strace injects the kernel's answer into the reads of one shard of B, after the
 * two reads of its header (strace counts per thread; only the main thread reads headers, so every
 * other thread's data reads are affected from its third on; the main thread's own data reads,
 * where it reads small tensors itself, from the count the test gives):
 * - EIO (a failing disk): the comparison stops, exit status 1, one line naming the file and the
 *   error, no verdict and no report file (a read failure is not bad input: nothing was found wrong
 *   in the bytes);
 * - end of file (the shard cut short while the run goes on): the tensors read past the end fail
 *   with the file and "truncated" in their notes, the others are compared, exit status 0 with
 *   the report written.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ComparisonReport } from '../core/src/compare/model-report.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { unless } from './helpers/skip.ts';
import { tempDir } from './helpers/tmpdir.ts';

const BIN = fileURLToPath(new URL('../client/bin/lineage.js', import.meta.url));

/** Whether strace runs here and may trace (a container may forbid ptrace). */
const STRACE_MISSING = spawnSync('strace', ['-qq', '-e', 'trace=none', 'true'], { encoding: 'utf8' }).status === 0
  ? null : 'strace is not installed or may not trace here (Debian package strace; ptrace allowed)';

function modelPair() {
  const root = tempDir();
  const [base, derived] = [join(root, 'base'), join(root, 'derived')];
  synthesize('base', { out: base, shape: { layers: 2 } });
  synthesize('derivative', { out: derived, like: base, drift: 0.03 });
  return { root, base, derived, shard: join(derived, 'model.safetensors') };
}

/** `lineage compare` under strace, with `inject` (strace's -e inject= value) on the reads of `file`. */
function compareInjected(file: string, inject: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=pread64', '-e', `inject=pread64:${inject}`, '-P', file, process.execPath, BIN, 'compare', ...args];
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const threads of [1, 2]) {
  unless(STRACE_MISSING)(`a shard that fails with EIO after planning: exit 1, one line naming it, no verdict, no report (--threads ${threads})`, async (t) => {
    t.timeout(120_000);
    const { root, base, derived, shard } = modelPair();
    const json = join(root, 'report.json');
    const run = await compareInjected(shard, 'error=EIO:when=3+', [base, derived, '--threads', String(threads), '--json', json]);
    t.is(run.code, 1, run.stderr);
    t.is(run.stderr, `lineage compare: ${shard}: cannot read: EIO\n`);
    t.notRegex(run.stdout, /verdict/i);
    t.false(existsSync(json), 'no report is written');
  });
}

unless(STRACE_MISSING)('a shard cut short after planning: the tensors read past its end carry the reason, the rest are compared, exit 0 with the report', async (t) => {
  t.timeout(120_000);
  const { root, base, derived, shard } = modelPair();
  const json = join(root, 'report.json');
  // On one thread a small tensor is read blocking on the main thread, after its two header reads:
  // the first few tensors of B read whole, every read from the 8th on finds the end of the file.
  const run = await compareInjected(shard, 'retval=0:when=8+', [base, derived, '--threads', '1', '--json', json]);
  t.is(run.code, 0, run.stderr);
  const report = JSON.parse(readFileSync(json, 'utf8')) as ComparisonReport;
  const tensors = report.weights.tensors;
  const failed = tensors.filter((x) => x.note?.startsWith('failed'));
  t.true(failed.length >= 1 && failed.length < tensors.length, `${failed.length} of ${tensors.length} tensors failed`);
  for (const x of failed) {
    t.true(x.note!.includes(`${shard}: truncated: wanted bytes [`), x.note!);
    t.is(x.cosine, null);
  }
  // The summary prints the first ten notes.
  t.true(run.stdout.includes(`${failed[0]!.name}: ${failed[0]!.note}`), run.stdout);
  t.true(tensors.some((x) => x.cosine !== null), 'the others are compared');
});
