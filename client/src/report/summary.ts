/** The readable summary `lineage compare` prints: what was compared and what it showed. */
import type { ComparisonReport } from '../../../core/src/compare/index.ts';

const fmt = (x: number | null | undefined, digits = 4) => (x === null || x === undefined ? '—' : x.toFixed(digits));
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;
const params = (n: unknown) => (typeof n === 'number' ? `${(n / 1e9).toFixed(n >= 1e9 ? 2 : 4)}B` : '?');

/** One component: what judged it (aligned tests, behaviour, or by-index statistics) and its value. */
function componentLine(c: ComparisonReport['verdict']['components'][number]): string {
  const p = c.pValue === null || c.pValue === undefined ? '—' : c.pValue.toExponential(1);
  const value = c.channel === 'behaviour' ? `next-token agreement ${fmt(c.medianCenteredCosine)}, p ${p}`
    : c.channel === 'aligned' ? `median matched statistic ${fmt(c.medianCenteredCosine)} (null ${fmt(c.medianNull)}, p ${p})`
    : `median centered cosine ${fmt(c.medianCenteredCosine)}`;
  return `  ${c.component.padEnd(15)} ${c.finding.padEnd(12)} ${c.related}/${c.compared} related, ${c.identical} identical, ${value}`;
}

export function formatSummary(report: ComparisonReport): string {
  const { models, weights } = report;
  const s = weights.summary;
  const v = report.verdict;
  const lines = [
    `verdict: ${v.label.toUpperCase()} (confidence ${v.confidence.toFixed(2)}): ${v.summary}`,
    ...v.components.map(componentLine),
    '',
    `A: ${models.a.path}  (${models.a.tensors} tensors, ${gb(models.a.bytes)}, ${models.a.shards} shard(s))`,
    `B: ${models.b.path}  (${models.b.tensors} tensors, ${gb(models.b.bytes)}, ${models.b.shards} shard(s))`,
    '',
  ];
  const arch = report.architecture;
  if (!('diffs' in arch)) lines.push(`architecture: not available (${arch.reason})`);
  else lines.push(`architecture: A ${params(arch.a.totalParams)} total / ${params(arch.a.activeParams)} active, B ${params(arch.b.totalParams)} / ${params(arch.b.activeParams)}; ${arch.diffs.length} field(s) differ`);
  const tok = report.tokenizer;
  if (!tok.available) lines.push(`tokenizer: not available (${tok.reason})`);
  else lines.push(`tokenizer: ${tok.relation} (vocab ${tok.vocabSizeA} vs ${tok.vocabSizeB}, ${tok.sharedTokens.count} shared)`);
  lines.push(
    '',
    `weights: ${s.compared} pair(s) compared (${s.elementsCompared.toLocaleString('en-US')} elements), ${s.identical} byte-identical, ` +
      `${s.notCompared} not comparable, ${s.onlyA} only in A, ${s.onlyB} only in B, ${s.failed} failed  [kernel ${weights.kernel}, hash ${weights.hashAlgorithm ?? 'none'}]`,
    ...(weights.sampling
      ? [`sampled: ${(100 * weights.sampling.fractionRead).toFixed(1)}% of compared elements read (--sample ${weights.sampling.fraction}, seed ${weights.sampling.seed}${weights.sampling.targetHalfwidth !== null ? `, target ±${weights.sampling.targetHalfwidth}` : ''}); pooled cosine with its ${100 * weights.confidence}% interval per role below`]
      : []),
    '',
    `${'role'.padEnd(16)} ${'tensors'.padStart(7)} ${'identical'.padStart(9)} ${'cosine'.padStart(8)} ${'centered'.padStart(8)} ${'min centered'.padStart(12)} ${'relL2'.padStart(8)}`,
  );
  for (const r of weights.roles) {
    const interval = weights.sampling && r.ci.cosine ? `  pooled cosine ${fmt(r.cosine)} [${fmt(r.ci.cosine[0])}, ${fmt(r.ci.cosine[1])}]` : '';
    lines.push(`${r.role.padEnd(16)} ${String(r.tensors).padStart(7)} ${String(r.identical).padStart(9)} ${fmt(r.meanCosine).padStart(8)} ${fmt(r.meanCenteredCosine).padStart(8)} ${fmt(r.minCenteredCosine).padStart(12)} ${fmt(r.relL2).padStart(8)}${interval}`);
  }
  lines.push('', '(cosine and centered: mean over the role\'s tensors; norm vectors sit near 1.0 by construction: read their centered value)');
  const notes = weights.tensors.filter((t) => t.note);
  if (notes.length) {
    lines.push('', `notes (${notes.length}):`);
    for (const t of notes.slice(0, 10)) lines.push(`  ${t.name ?? t.nameB}: ${t.note}`);
    if (notes.length > 10) lines.push(`  … ${notes.length - 10} more in the JSON report`);
  }
  lines.push('', `done in ${report.run.durationSeconds.toFixed(2)} s on ${report.run.threads} thread(s)`);
  return lines.join('\n');
}
