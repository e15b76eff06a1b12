/**
 * The other side of the evaluation: an independent model dressed up to look derived. Its hidden
 * dimension, its attention heads (KV groups, then query heads inside each group) and its MLP
 * neurons are reordered to best match a reference model, all function-preserving, so that a
 * by-index comparison finds the largest similarity chance allows. A verdict that matches units
 * itself (and pays for the matching in its null) must still call it independent.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { maximizeAssignmentFlat } from '../core/src/controls/assignment.ts';
import { alignHidden } from '../core/src/align/hidden.ts';
import { ModelView } from '../core/src/align/model-view.ts';
import { attentionRowUnits, mlpUnits, similarities } from '../core/src/align/units.ts';
import { applyPermutations, type UnitPermutations } from '../core/src/synth/transforms.ts';

function assignment(sim: Float64Array, n: number): number[] {
  return maximizeAssignmentFlat(sim, n, n).rowToCol;
}

/** Writes `independent` reordered (hidden dimension, heads, neurons) to best match `reference`. */
export function reorderToMatch(reference: string, independent: string, out: string): string {
  const scratch = mkdtempSync(join(tmpdir(), 'lineage-adversary-'));
  try {
    // 1. The hidden dimension: B's dimension for each of A's, as the profiles match them.
    const a = new ModelView(openCheckpoint(reference));
    const b0 = new ModelView(openCheckpoint(independent));
    const found = alignHidden({ a, b: b0, tokenPairs: null, seed: 5 });
    b0.close();
    const hidden = found && [...found.map.toB].every((j) => j >= 0) ? [...found.map.toB] : null;
    const stage = join(scratch, 'hidden');
    applyPermutations(independent, stage, { hidden, heads: new Map(), neurons: new Map() });
    // 2. Heads and neurons, layer by layer, against the reference under the identity now.
    const b = new ModelView(openCheckpoint(stage));
    const width = a.hidden!;
    const dims = Int32Array.from({ length: width }, (_, i) => i);
    const perms: UnitPermutations = { hidden: null, heads: new Map(), neurons: new Map() };
    const shape = a.attention();
    for (const layer of a.layers) {
      if (shape) {
        const ua = attentionRowUnits({ view: a, layer, dims }, shape.headDim);
        const ub = attentionRowUnits({ view: b, layer, dims }, shape.headDim);
        if (ua && ub) {
          const ga = ua.groups.build(dims, null);
          const gb = ub.groups.build(dims, null);
          // Row i: A's unit i against B's; the assignment gives the old B unit to put at position i.
          const simGroups = similarities(ga, null, gb);
          const kv = assignment(simGroups, ga.count);
          const ha = ua.heads.build(dims, null);
          const hb = ub.heads.build(dims, null);
          const simHeads = similarities(ha, null, hb);
          const group = ha.count / ga.count;
          const q: number[] = [];
          for (let g = 0; g < ga.count; g++) {
            // A's heads of group g against B's heads of group kv[g].
            const sub = new Float64Array(group * group);
            for (let i = 0; i < group; i++) for (let j = 0; j < group; j++) sub[i * group + j] = simHeads[(g * group + i) * hb.count + kv[g]! * group + j]!;
            const inner = assignment(sub, group);
            for (let i = 0; i < group; i++) q.push(kv[g]! * group + inner[i]!);
          }
          perms.heads.set(layer, { q, kv });
        }
      }
      const na = mlpUnits({ view: a, layer, dims }, 'mlp');
      const nb = mlpUnits({ view: b, layer, dims }, 'mlp');
      if (na && nb && na.count === nb.count) {
        const x = na.build(dims, null);
        const y = nb.build(dims, null);
        perms.neurons.set(layer, assignment(similarities(x, null, y), x.count));
      }
    }
    a.close();
    b.close();
    return applyPermutations(stage, out, perms);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
