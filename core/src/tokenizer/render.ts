/**
 * The tokenizer section as text for people (the `lineage tokenizer` summary, and the tokenizer
 * part of `lineage compare`'s readable output).
 */
import type { TokenizerSection, TokenizerSummary } from './compare.ts';
import type { TokenSetDiff } from './overlap.ts';

const pct = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const fix = (x: number | null | undefined, d = 4) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));

function side(label: string, s: TokenizerSummary): string {
  const lines = [`${label}: ${s.path}`, `   ${s.format}, ${s.model} (${s.pieceStyle} pieces), ${s.vocabSize} ids, ${s.distinctTokens} distinct tokens as bytes`];
  if (s.encodeUnsupported) lines.push(`   cannot encode: ${s.encodeUnsupported}`);
  for (const n of s.notes) lines.push(`   note: ${n}`);
  return lines.join('\n');
}

function diff(label: string, d: TokenSetDiff): string | null {
  if (d.count === 0) return null;
  const scripts = Object.entries(d.scripts).slice(0, 6).map(([k, v]) => `${k} ${v}`).join(', ');
  const parts = [`${d.count} tokens`];
  if (d.idRange) parts.push(`ids ${d.idRange[0]}-${d.idRange[1]}`);
  if (d.special) parts.push(`${d.special} special/added`);
  if (scripts) parts.push(scripts);
  const sample = d.sample.map((t) => JSON.stringify(t)).join(' ');
  return `${label}: ${parts.join('; ')}\n   e.g. ${sample}`;
}

function list(items: string[], count: number, max = 8): string {
  if (count === 0) return 'none';
  const shown = items.slice(0, max).join(' ');
  return count > max ? `${count}: ${shown} ...` : shown;
}

export function renderTokenizerText(section: TokenizerSection): string {
  if (!section.available) return `tokenizer: not compared (${section.reason})\n`;
  const s = section;
  const out: string[] = [];
  out.push(side('A', s.a), side('B', s.b), '');
  out.push(`relation: ${s.relation}`);
  out.push(`   ${s.relationReason}`);
  out.push(`   ${s.overlapBand}`);
  out.push('');
  const config = s.configVocabSizeA !== null || s.configVocabSizeB !== null
    ? `; config vocab_size A ${s.configVocabSizeA ?? 'unknown'}, B ${s.configVocabSizeB ?? 'unknown'}${s.vocabSizeMatch.config === null ? '' : s.vocabSizeMatch.config ? ' (equal)' : ' (differ)'}`
    : '';
  out.push(`vocab size: A ${s.vocabSizeA}, B ${s.vocabSizeB} (${s.vocabSizeMatch.tokenizer ? 'exact match' : 'differ'})${config}`);
  out.push(`shared tokens: ${s.sharedTokens.count} (${pct(s.sharedTokens.shareOfA)} of A, ${pct(s.sharedTokens.shareOfB)} of B), same id ${pct(s.sameIdRate)}`);
  out.push(`id alignment: commonest shift ${s.idAlignment.dominantOffset ?? 'n/a'} (${pct(s.idAlignment.dominantOffsetShare)}), id-order Spearman ${fix(s.idAlignment.orderCorrelation)}, neighbour agreement ${fix(s.idAlignment.neighbourAgreement)}`);
  out.push(`special tokens: ${s.specialTokens.shared} shared (${s.specialTokens.sharedSameId} at the same id); only A: ${list(s.specialTokens.onlyA, s.specialTokens.onlyACount)}; only B: ${list(s.specialTokens.onlyB, s.specialTokens.onlyBCount)}`);
  const onlyA = diff('only in A', s.onlyA);
  const onlyB = diff('only in B', s.onlyB);
  if (onlyA) out.push(onlyA);
  if (onlyB) out.push(onlyB);
  const m = s.merges;
  if (m.available) {
    out.push(`merges: A ${m.countA} (from ${m.basisA}), B ${m.countB} (from ${m.basisB}); created-token Jaccard ${fix(m.jaccard)}${m.pairJaccard !== null ? `, pair Jaccard ${fix(m.pairJaccard)}` : ''}`);
    out.push(`   identical from the start for ${m.commonPrefix} merges; Spearman ${fix(m.rankCorrelation)}; late (after ${m.late.from}): ${m.late.shared} shared (${pct(m.late.sharedShare)} of A's), Spearman ${fix(m.late.rankCorrelation)}, neighbour agreement ${fix(m.late.orderAgreement)}`);
  } else {
    out.push(`merges: not compared (${m.reason})`);
  }
  const e = s.encodingAgreement;
  if (e.available) {
    out.push(`encoding (${e.texts} ${e.corpus === 'builtin' ? 'built-in' : 'given'} texts): identical pieces ${pct(e.identicalTextShare)}, identical ids ${pct(e.identicalIdsShare)}, boundary F1 ${fix(e.boundaryF1)}; tokens A ${e.tokensA}, B ${e.tokensB} (bytes/token ${fix(e.bytesPerTokenA, 2)} vs ${fix(e.bytesPerTokenB, 2)})`);
    if (e.notComparable) out.push(`   ${e.notComparable} texts are rewritten by a normalizer on one side (boundaries not compared there)`);
    for (const [cat, c] of Object.entries(e.byCategory)) {
      if (e.corpus === 'builtin') out.push(`   ${cat.padEnd(10)} identical ${pct(c.identicalTextShare).padStart(6)}, boundary F1 ${fix(c.boundaryF1)}, tokens ${c.tokensA} vs ${c.tokensB}`);
    }
    const sample = e.samples[0];
    if (sample) {
      out.push(`   e.g. ${JSON.stringify(sample.text)}`);
      out.push(`      A: ${sample.a.map((p) => JSON.stringify(p)).join(' ')}`);
      out.push(`      B: ${sample.b.map((p) => JSON.stringify(p)).join(' ')}`);
    }
  } else {
    out.push(`encoding: not compared (${e.reason})`);
  }
  out.push(`vocab hash (sha256 of the byte-normalized vocabulary by id): A ${s.vocabHashA.slice(0, 16)}..., B ${s.vocabHashB.slice(0, 16)}...`);
  return out.join('\n') + '\n';
}
