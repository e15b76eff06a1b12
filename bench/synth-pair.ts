/** Benchmark pairs, generated under the bench root when missing (kept between runs: `.bench/` is ignored by git). */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SynthShape } from '../core/src/synth/architecture.ts';
import { synthesize } from '../core/src/synth/synth.ts';

/**
 * `root/NAME-base` of `shape` (its `lineage synth` flags given for the log) and the models made
 * like it, one per kind asked for: `root/NAME-derived` (a derivative) and `root/NAME-independent`.
 */
export function synthPair<K extends 'derived' | 'independent'>(
  root: string, name: string, shape: Partial<SynthShape>, flags: string, kinds: readonly K[],
): { base: string } & Record<K, string> {
  mkdirSync(root, { recursive: true });
  const base = join(root, `${name}-base`);
  if (!existsSync(join(base, 'config.json'))) {
    console.log(`generating: lineage synth base ${flags} --out ${base}`);
    synthesize('base', { out: base, shape });
  }
  const out = { base } as { base: string } & Record<K, string>;
  for (const kind of kinds) {
    const dir = join(root, `${name}-${kind}`);
    const synthKind = kind === 'derived' ? 'derivative' : 'independent';
    if (!existsSync(join(dir, 'config.json'))) {
      console.log(`generating: lineage synth ${synthKind} --like ${base} --out ${dir}`);
      synthesize(synthKind, { out: dir, like: base });
    }
    (out as Record<string, string>)[kind] = dir;
  }
  return out;
}
