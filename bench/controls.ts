/**
 * The controls' share of a comparison (issue 12): on the 48-layer × 128-expert MoE pair (the
 * Solar-Open-100B tensor count, 0.65 GB a side), derived and independent, `compareModels` on one
 * and two threads, exact and `--sample 0.1`: the whole run, the controls phase (its tasks, wall
 * seconds, and the tensor bytes its tasks read against the weights' bytes). Run alone with
 * `node --import tsx bench/controls.ts [ROOT]`; `npm run bench` calls it. The same figures come
 * from any run's report: `run.durationSeconds` and `run.controls`.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareModels } from '../core/src/compare/model-report.ts';
import { prepare } from './sample-moe.ts';

export async function benchControls(root: string): Promise<void> {
  const pair = prepare(root);
  console.log('\ncontrols share, 48 × 128 MoE pair (bench/controls.ts; lineage compare A B --threads T [--sample 0.1], run.controls of the report)');
  for (const [label, b] of [['derived', pair.derived], ['independent', pair.independent]] as const) {
    for (const sample of [undefined, 0.1]) {
      for (const threads of [1, 2]) {
        const report = await compareModels(pair.base, b, { threads, sample });
        const c = report.run.controls!;
        const total = report.run.durationSeconds;
        const weightsBytes = report.models.a.bytes + report.models.b.bytes;
        console.log(`${`${label}${sample ? ', --sample 0.1' : ''}, ${threads} thread(s)`.padEnd(36)} total ${total.toFixed(1).padStart(6)} s, controls ${c.seconds.toFixed(1).padStart(5)} s (${(100 * c.seconds / total).toFixed(0)}%, ${c.tasks} tasks), controls read ${((c.bytes ?? 0) / 1e6).toFixed(0)} MB = ${(100 * (c.bytes ?? 0) / weightsBytes).toFixed(1)}% of the weights' bytes; ${report.verdict.label} ${report.verdict.confidence}`);
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchControls(process.argv[2] ?? join(process.cwd(), '.bench'));
