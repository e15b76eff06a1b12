/** The behaviour section as text for a terminal and as Markdown for a person: the answer first, then how it was reached. */
import type { BehaviourSection, StatisticResult } from './compare.ts';

const num = (x: number | null, digits = 3) => (x === null ? 'n/a' : x.toFixed(digits));
const p = (x: number | null) => (x === null ? 'n/a' : x < 0.001 ? x.toExponential(1) : x.toFixed(3));
const verdict = (s: BehaviourSection) => (s.related === true ? 'related' : s.related === false ? 'not related' : 'undecided');

function sourceLine(side: BehaviourSection['sources']['a']): string {
  if (side.kind === 'endpoint') return `${side.label}: endpoint ${side.url}, model ${side.model} (${side.api})`;
  const runner = side.runner === 'llama.cpp' ? 'llama.cpp' : 'built-in forward pass';
  return `${side.label}: local ${side.format}${side.dtypes.length ? ` (${side.dtypes.join(', ')})` : ''}, ${runner}${side.tokenizer ? `, tokenizer ${side.tokenizer}` : ', no tokenizer'}`;
}

function statisticRow(name: string, s: StatisticResult | null, decides: boolean): string {
  if (!s) return `| ${name} | n/a | n/a | n/a | ${decides ? 'yes' : 'no'} |`;
  return `| ${name} | ${num(s.observed)} | ${num(s.nullMean)} ± ${num(s.nullSd)} | ${p(s.pValue)} | ${decides ? 'yes' : 'no'} |`;
}

export function renderBehaviourText(s: BehaviourSection): string {
  const lines = [
    `behaviour: ${verdict(s)} (p = ${p(s.pValue)}, α = ${s.alpha})`,
    `  ${s.reason}`,
    `  greedy agreement ${num(s.agreement)}, top-${s.probes.topK} overlap ${num(s.topKOverlap)}, Jensen-Shannon ${num(s.jensenShannon, 4)} nats`,
    `  probes: ${s.probes.answered} of ${s.probes.total} answered by both (${s.probes.missingA} missing from A, ${s.probes.missingB} from B, ${s.probes.incomparable} incomparable); seed ${s.probes.seed}`,
    `  A = ${sourceLine(s.sources.a)}`,
    `  B = ${sourceLine(s.sources.b)}`,
  ];
  for (const r of s.references) lines.push(`  reference ${r.reference} vs ${r.side.toUpperCase()}: agrees ${num(r.agreementWithReference)} against A–B ${num(r.agreementAB)} (p = ${p(r.pValue)})`);
  return lines.join('\n') + '\n';
}

export function renderBehaviourMarkdown(s: BehaviourSection): string {
  const out = [
    '# Behaviour',
    '',
    `**${verdict(s)}** (p = ${p(s.pValue)}, α = ${s.alpha}). ${s.reason}.`,
    '',
    `- A: ${sourceLine(s.sources.a)}`,
    `- B: ${sourceLine(s.sources.b)}`,
    `- False-positive rate: at most ${s.falsePositiveRate.alpha} under the ${s.falsePositiveRate.null} null.`,
    '',
    '| statistic | observed | null (mismatched probes) | p-value | decides |',
    '| --- | --- | --- | --- | --- |',
    statisticRow('greedy agreement', s.statistics.agreement, true),
    statisticRow(`top-${s.probes.topK} overlap`, s.statistics.topKOverlap, false),
    statisticRow('Jensen–Shannon (nats)', s.statistics.jensenShannon, false),
    '',
    '## Probes',
    '',
    `${s.probes.answered} of ${s.probes.total} answered by both and comparable; ${s.probes.missingA} missing from A, ${s.probes.missingB} from B, ${s.probes.incomparable} incomparable. Seed ${s.probes.seed}${s.probes.sharedVocab !== null ? `; token probes over ids below ${s.probes.sharedVocab}` : ''}${s.probes.textSet ? `; text set ${s.probes.textSet}` : ''}.`,
    '',
    '| set | probes | answered | agreement | tokens matched by |',
    '| --- | --- | --- | --- | --- |',
    ...s.probes.sets.map((x) => `| ${x.set} | ${x.total} | ${x.answered} | ${num(x.agreement)} | ${x.matchedBy ?? 'n/a'} |`),
  ];
  if (s.references.length) {
    out.push('', '## Reference models', '', '| reference | side | probes | A–B agreement | side–reference agreement | p-value |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of s.references) out.push(`| ${r.reference} | ${r.side.toUpperCase()} | ${r.n} | ${num(r.agreementAB)} | ${num(r.agreementWithReference)} | ${p(r.pValue)} |`);
  }
  if (s.probes.missingExamples.length) {
    out.push('', '## Missing answers (first few)', '');
    for (const m of s.probes.missingExamples) out.push(`- ${m.probe}, side ${m.side.toUpperCase()}: ${m.reason}`);
  }
  out.push('', '## Notes', '', ...s.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/**
 * A self-contained HTML page of the section: the Markdown rendering's content (headings, lists,
 * tables) turned into elements, every text escaped (sources and reasons come from user input).
 */
export function renderBehaviourHtml(s: BehaviourSection): string {
  const body: string[] = [];
  let table: string[][] | null = null;
  const flushTable = () => {
    if (!table) return;
    const [head, , ...rows] = table;
    body.push('<table><thead><tr>' + head!.map((c) => `<th>${c}</th>`).join('') + '</tr></thead><tbody>' + rows.map((r) => '<tr>' + r.map((c) => `<td>${c}</td>`).join('') + '</tr>').join('') + '</tbody></table>');
    table = null;
  };
  let list = false;
  for (const line of renderBehaviourMarkdown(s).split('\n')) {
    const text = escapeHtml(line).replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>');
    if (line.startsWith('| ')) {
      (table ??= []).push(text.slice(2, -2).split(' | '));
      continue;
    }
    flushTable();
    if (line.startsWith('- ')) {
      if (!list) body.push('<ul>');
      list = true;
      body.push(`<li>${text.slice(2)}</li>`);
      continue;
    }
    if (list) body.push('</ul>');
    list = false;
    if (line.startsWith('## ')) body.push(`<h2>${text.slice(3)}</h2>`);
    else if (line.startsWith('# ')) body.push(`<h1>${text.slice(2)}</h1>`);
    else if (line.trim() !== '') body.push(`<p>${text}</p>`);
  }
  flushTable();
  if (list) body.push('</ul>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lineage probe: ${verdict(s)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}th{background:#f4f4f4}</style>
</head><body>
${body.join('\n')}
</body></html>
`;
}
