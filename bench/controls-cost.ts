/**
 * What each control task of a comparison costs: its seconds (wall and CPU: the CPU seconds hold
 * when other work shares the machine) and the bytes its readers read, the tasks run one after the
 * other on the main thread. Alone: `node --import tsx bench/controls-cost.ts A B [--rounds N]`
 * (the last round printed: the first also pays for compiling); `npm run bench` runs it on the
 * tiny start-up pair and on the 22-layer, 16-expert MoE pair (generated when missing).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareComparison } from '../core/src/compare/model-report.ts';
import { computeControls } from '../core/src/controls/index.ts';
import { runControlTask, type ControlExecutor, type ControlOutcome, type ControlTask } from '../core/src/controls/tasks.ts';
import { asWire } from '../core/src/controls/wire.ts';
import { preadBytesRead } from '../core/src/io/pread.ts';
import { synthesize } from '../core/src/synth/synth.ts';
import { synthPair } from './synth-pair.ts';

export interface TaskCost {
  label: string;
  seconds: number;
  cpuSeconds: number;
  bytes: number;
}

const MOE_22X16 = { layout: 'moe' as const, layers: 22, experts: 16, expertsPerToken: 2, hidden: 1024, intermediate: 2816, moeIntermediate: 512, heads: 16, kvHeads: 4, vocab: 32000 };
const MOE_22X16_FLAGS = '--layout moe --layers 22 --experts 16 --experts-per-token 2 --hidden 1024 --intermediate 2816 --moe-intermediate 512 --heads 16 --kv-heads 4 --vocab 32000';

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Every control task of the comparison of a and b, each timed; the controls' whole time last. */
export async function controlsCost(a: string, b: string): Promise<{ tasks: TaskCost[]; seconds: number; cpuSeconds: number }> {
  const prepared = await prepareComparison(a, b);
  const tasks: TaskCost[] = [];
  // The controls run batches side by side (the cells beside the rest of stage 1): one task at a
  // time here, so that a task's seconds and bytes are its own.
  let turn: Promise<unknown> = Promise.resolve();
  const executor: ControlExecutor = {
    run(batch: ControlTask[]): Promise<ControlOutcome[]> {
      const mine = turn.then(() => runOneByOne(batch));
      turn = mine.catch(() => {});
      return mine;
    },
  };
  const runOneByOne = async (batch: ControlTask[]): Promise<ControlOutcome[]> => {
      const out: ControlOutcome[] = [];
      for (const task of batch) {
        const [bytes0, cpu0, t0] = [preadBytesRead(), cpuSeconds(), performance.now()];
        const value = await runControlTask(task, { a: prepared.a, b: prepared.b });
        const seconds = (performance.now() - t0) / 1000;
        tasks.push({ label: task.label, seconds, cpuSeconds: cpuSeconds() - cpu0, bytes: preadBytesRead() - bytes0 });
        out.push({ ok: true, value: asWire(value), seconds });
      }
      return out;
  };
  const [cpu0, t0] = [cpuSeconds(), performance.now()];
  await computeControls(prepared, [], { executor, seed: 1 });
  return { tasks, seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSeconds() - cpu0 };
}

function print(cost: Awaited<ReturnType<typeof controlsCost>>): void {
  console.log(`${'control task'.padEnd(48)} ${'wall s'.padStart(7)} ${'cpu s'.padStart(7)} ${'MB read'.padStart(8)}`);
  for (const t of cost.tasks) console.log(`${t.label.padEnd(48)} ${t.seconds.toFixed(3).padStart(7)} ${t.cpuSeconds.toFixed(3).padStart(7)} ${(t.bytes / 1e6).toFixed(0).padStart(8)}`);
  console.log(`${'controls in all'.padEnd(48)} ${cost.seconds.toFixed(3).padStart(7)} ${cost.cpuSeconds.toFixed(3).padStart(7)}`);
}

/** Part of `npm run bench`: the tiny pair and the 22 × 16 MoE pair under `root`, generated when missing. */
/** The 22-layer, 16-expert bf16 MoE pair of issue 12 (1.4 GB a side), generated under `root` when missing. */
export function moe22x16Pair(root: string): { base: string; derived: string } {
  return synthPair(root, 'moe-22x16', MOE_22X16, MOE_22X16_FLAGS, ['derived']);
}

export async function benchControlsCost(root: string): Promise<void> {
  const tiny = join(root, 'startup');
  if (!existsSync(join(tiny, 'derived', 'config.json'))) {
    synthesize('base', { out: join(tiny, 'base') });
    synthesize('derivative', { out: join(tiny, 'derived'), like: join(tiny, 'base'), drift: 0.02 });
  }
  const { base, derived } = moe22x16Pair(root);
  for (const [name, a, b] of [['tiny pair', join(tiny, 'base'), join(tiny, 'derived')], ['22-layer, 16-expert MoE pair', base, derived]] as const) {
    console.log(`\ncontrol tasks, ${name} (node --import tsx bench/controls-cost.ts ${a} ${b}):`);
    print(await controlsCost(a, b));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--rounds');
  const rounds = at >= 0 ? Number(args.splice(at, 2)[1]) : 1;
  const [a, b] = args;
  if (!a || !b || !(rounds >= 1)) {
    console.error('usage: node --import tsx bench/controls-cost.ts A B [--rounds N]');
    process.exit(2);
  }
  let cost = await controlsCost(a, b);
  for (let r = 1; r < rounds; r++) cost = await controlsCost(a, b);
  print(cost);
}
