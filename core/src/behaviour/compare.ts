/**
 * compareBehaviour: both sides answer the same probes. The decision rests on greedy next-token
 * agreement, tested against the permutation null (probe i of A against probe j ≠ i of B) and,
 * when reference models known to be unrelated are given, against their agreement with A and B on
 * the same probes. Top-k overlap and Jensen–Shannon divergence are reported with their own
 * permutation p-values but do not decide: both respond to behaviour any two language models on the
 * same id space share, such as copying tokens from the prompt (measured here: independent
 * stories260k and babyllama-361 give top-k overlap p = 0.001 against that null).
 */
import type { Answer, BehaviourModel, BehaviourSource, NextTokenAnswer } from './model.ts';
import { isMissing } from './model.ts';
import { jensenShannon, matchMode, sameGreedy, sharedDistribution, topKJensenShannon, topOverlap, type MatchBy } from './pair-metrics.ts';
import { candidatesOutside, jensenShannonOutside, union } from './prompt-mask.ts';
import { permutationTest, type PermutationResult } from './permutation.ts';
import { planProbes, type Probe } from './probes.ts';
import { mcnemar, type ReferenceComparison } from './reference-null.ts';

export interface BehaviourOptions {
  /** Random token probes (when both sides share a vocabulary). Default 200. */
  probes?: number;
  seed?: number;
  /** Leading candidates compared. Default 10. */
  topK?: number;
  /** Draws of the permutation null. Default 999 (smallest p-value 0.001). */
  draws?: number;
  /** The false-positive rate the decision is held to, under the permutation null. Default 0.01. */
  alpha?: number;
  /** Fewer answered probes than this: undecided. Default 20. */
  minAnswered?: number;
  /** Use the text prompt set when both sides take text. Default true. */
  text?: boolean;
  /** Models known to be unrelated to A and B: A–B agreement must beat theirs with A and with B. */
  references?: BehaviourModel[];
}

export interface StatisticResult extends PermutationResult {
  /** Probes the statistic was computed on. */
  n: number;
}

export interface BehaviourSection {
  /** true: related at `alpha`; false: no behavioural evidence of relation; null: undecidable (see `reason`). */
  related: boolean | null;
  reason: string;
  /**
   * p-value of the decision: the permutation p-value of greedy agreement, or with references the
   * largest of it and the reference tests' (intersection–union); null when nothing was tested.
   */
  pValue: number | null;
  alpha: number;
  /** The false-positive rate the decision is held to, and under which null. */
  falsePositiveRate: { alpha: number; null: string };
  /** Greedy next-token agreement on the answered probes (null when none). */
  agreement: number | null;
  topKOverlap: number | null;
  jensenShannon: number | null;
  /** `agreement` decides; `topKOverlap` and `jensenShannon` are descriptive. */
  statistics: {
    agreement: StatisticResult | null;
    topKOverlap: StatisticResult | null;
    jensenShannon: StatisticResult | null;
  };
  /** One test per reference model and side; empty when no references were given. */
  references: ReferenceComparison[];
  probes: {
    total: number;
    answered: number;
    missingA: number;
    missingB: number;
    /** Answered by both but with tokens that cannot be matched (no ids, no text). */
    incomparable: number;
    sets: { set: string; total: number; answered: number; agreement: number | null; matchedBy: MatchBy | 'mixed' | null }[];
    seed: number;
    sharedVocab: number | null;
    textSet: string | null;
    topK: number;
    /** A few missing answers with their reasons (an empty or refused answer is never agreement). */
    missingExamples: { probe: string; side: 'a' | 'b'; reason: string }[];
  };
  sources: { a: BehaviourSource & { label: string }; b: BehaviourSource & { label: string } };
  notes: string[];
}

const DEFAULTS = { probes: 200, seed: 0, topK: 10, draws: 999, alpha: 0.01, minAnswered: 20 } as const;

export async function compareBehaviour(a: BehaviourModel, b: BehaviourModel, options: BehaviourOptions = {}): Promise<BehaviourSection> {
  const o = { ...DEFAULTS, ...stripUndefined(options) };
  const plan = planProbes(a, b, { tokenProbes: o.probes, seed: o.seed, text: options.text });
  const prompts = plan.probes.map((p) => p.prompt);
  const [answersA, answersB] = await Promise.all([a.next(prompts, { topK: o.topK }), b.next(prompts, { topK: o.topK })]);
  checkCount(a, answersA, prompts.length);
  checkCount(b, answersB, prompts.length);

  // The probes both answered, with the way their tokens are matched.
  const pairs: { probe: Probe; a: NextTokenAnswer; b: NextTokenAnswer; by: MatchBy }[] = [];
  const missingExamples: BehaviourSection['probes']['missingExamples'] = [];
  let missingA = 0;
  let missingB = 0;
  let incomparable = 0;
  plan.probes.forEach((probe, i) => {
    const x = answersA[i]!;
    const y = answersB[i]!;
    if (isMissing(x)) {
      missingA++;
      if (missingExamples.length < 5) missingExamples.push({ probe: probe.name, side: 'a', reason: x.missing });
    }
    if (isMissing(y)) {
      missingB++;
      if (missingExamples.length < 5) missingExamples.push({ probe: probe.name, side: 'b', reason: y.missing });
    }
    if (isMissing(x) || isMissing(y)) return;
    const by = matchMode(x, y, probe.set === 'tokens');
    if (by === null) {
      incomparable++;
      return;
    }
    pairs.push({ probe, a: x, b: y, by });
  });

  const notes = [...plan.notes];
  const sets = ['tokens', 'text'].map((set) => {
    const all = plan.probes.filter((p) => p.set === set);
    const mine = pairs.filter((p) => p.probe.set === set);
    const modes = new Set(mine.map((p) => p.by));
    return {
      set,
      total: all.length,
      answered: mine.length,
      agreement: null as number | null,
      matchedBy: modes.size === 0 ? null : modes.size === 1 ? [...modes][0]! : ('mixed' as const),
    };
  }).filter((s) => s.total > 0);

  const strata = ['tokens', 'text'].map((set) => pairs.flatMap((p, i) => (p.probe.set === set ? [i] : []))).filter((s) => s.length > 0);
  // A pair (i, j) is matched by ids only when both probes allow ids; bytes otherwise.
  const byOf = (i: number, j: number): MatchBy | null => {
    const pa = pairs[i]!;
    const pb = pairs[j]!;
    return matchMode(pa.a, pb.b, pa.probe.set === 'tokens' && pb.probe.set === 'tokens');
  };
  const test = (stream: string, extreme: 'high' | 'low', value: (i: number, j: number) => number): StatisticResult | null => {
    if (pairs.length < 2) return null;
    return { ...permutationTest(pairs.length, strata, value, { draws: o.draws, seed: o.seed, extreme, stream }), n: pairs.length };
  };

  // On token probes matched by id, tokens of either probe are left out of the comparison (see
  // prompt-mask.ts); text probes and byte-matched answers are compared as they are.
  const promptIds = pairs.map((p) => (p.probe.prompt.kind === 'tokens' ? new Set(p.probe.prompt.ids) : null));
  const exclusion = (i: number, j: number, by: MatchBy): ReadonlySet<number> | null => {
    const x = promptIds[i];
    const y = promptIds[j];
    return by === 'id' && x && y ? union(x, y) : null;
  };
  const greedyPair = (i: number, j: number): number => {
    const by = byOf(i, j);
    if (by === null) return 0;
    const ex = exclusion(i, j, by);
    if (!ex) return sameGreedy(pairs[i]!.a, pairs[j]!.b, by);
    const ga = candidatesOutside(pairs[i]!.a, ex, 1)[0];
    const gb = candidatesOutside(pairs[j]!.b, ex, 1)[0];
    return ga !== undefined && ga === gb ? 1 : 0;
  };
  const agreement = test('agreement', 'high', greedyPair);
  for (const set of sets) {
    const mine = pairs.flatMap((p, i) => (p.probe.set === set.set ? [i] : []));
    set.agreement = mine.length ? mine.reduce((sum, i) => sum + greedyPair(i, i), 0) / mine.length : null;
  }
  // Answers without candidate lists (an endpoint that gives no logprobs) leave these two untested.
  const lists = pairs.length > 0 && pairs.every((p) => p.a.top.length > 0 && p.b.top.length > 0);
  if (pairs.length > 0 && !lists) notes.push('Some answers came without log-probabilities: top-k overlap and Jensen–Shannon divergence were not computed.');
  const overlap = !lists ? null : test('top-k', 'high', (i, j) => {
    const by = byOf(i, j);
    if (by === null) return 0;
    const ex = exclusion(i, j, by);
    if (!ex) return topOverlap(pairs[i]!.a, pairs[j]!.b, by);
    const k = Math.min(pairs[i]!.a.top.length, pairs[j]!.b.top.length);
    const ta = candidatesOutside(pairs[i]!.a, ex, k);
    const tb = new Set(candidatesOutside(pairs[j]!.b, ex, k));
    const n = Math.min(ta.length, tb.size);
    return n === 0 ? 0 : ta.slice(0, n).filter((id) => tb.has(id)).length / n;
  });
  // Full distributions over the shared ids where both sides give them on token probes; the top-k
  // stand-in everywhere else (endpoints, text probes across vocabularies, large vocabularies).
  const jsd = !lists ? null : test('jsd', 'low', (i, j) => {
    const by = byOf(i, j);
    if (by === null) return Math.LN2;
    const x = pairs[i]!.a;
    const y = pairs[j]!.b;
    const ex = exclusion(i, j, by);
    if (by === 'id' && x.logprobs && y.logprobs && plan.sharedVocab !== null) {
      return ex ? jensenShannonOutside(x.logprobs, y.logprobs, plan.sharedVocab, ex) : jensenShannon(sharedDistribution(x.logprobs, plan.sharedVocab), sharedDistribution(y.logprobs, plan.sharedVocab));
    }
    return topKJensenShannon(x, y, by);
  });

  // The references answer the same probes; each is tested against A and against B.
  const references: ReferenceComparison[] = [];
  for (const ref of o.references ?? []) {
    const answersR = await ref.next(prompts, { topK: o.topK });
    checkCount(ref, answersR, prompts.length);
    const agree = (x: Answer, y: Answer, probe: Probe): number | null => {
      if (isMissing(x) || isMissing(y)) return null;
      const by = matchMode(x, y, probe.set === 'tokens');
      if (by === null) return null;
      if (by !== 'id' || probe.prompt.kind !== 'tokens') return sameGreedy(x, y, by);
      const ex = new Set(probe.prompt.ids);
      const gx = candidatesOutside(x, ex, 1)[0];
      return gx !== undefined && gx === candidatesOutside(y, ex, 1)[0] ? 1 : 0;
    };
    const ab = plan.probes.map((probe, i) => agree(answersA[i]!, answersB[i]!, probe));
    for (const [side, answers] of [['a', answersA], ['b', answersB]] as const) {
      references.push(mcnemar(ref.label, side, ab, plan.probes.map((probe, i) => agree(answers[i]!, answersR[i]!, probe))));
    }
  }
  const pValue = agreement === null ? null : Math.max(agreement.pValue, ...references.map((r) => r.pValue));
  const { related, reason } = decide(pairs.length, agreement, references, pValue, o.alpha, o.minAnswered, plan.probes.length);
  if (references.length === 0) {
    notes.push(
      'No reference models were given, so the only null is the permutation null: it holds the false-positive rate to α against models whose answers do not follow each other probe by probe. Two models trained independently on the same data with the same vocabulary can also answer alike probe by probe; give --reference models (unrelated, same vocabulary) to test against that, and weigh this with the weights and tokenizer evidence.',
    );
  }
  if (missingA + missingB > 0) notes.push(`${missingA} probe(s) unanswered by A and ${missingB} by B were left out (never counted as agreement).`);

  return {
    related,
    reason,
    pValue,
    alpha: o.alpha,
    falsePositiveRate: {
      alpha: o.alpha,
      null: references.length
        ? 'permutation (probe i of A against probe π(i) of B, π uniform within each probe set) and, intersection–union, exact McNemar against each reference model with A and with B'
        : 'permutation (probe i of A against probe π(i) of B, π uniform within each probe set)',
    },
    agreement: agreement?.observed ?? null,
    topKOverlap: overlap?.observed ?? null,
    jensenShannon: jsd?.observed ?? null,
    statistics: { agreement, topKOverlap: overlap, jensenShannon: jsd },
    references,
    probes: {
      total: plan.probes.length,
      answered: pairs.length,
      missingA,
      missingB,
      incomparable,
      sets,
      seed: o.seed,
      sharedVocab: plan.sharedVocab,
      textSet: plan.textSet,
      topK: o.topK,
      missingExamples,
    },
    sources: { a: { ...a.source, label: a.label }, b: { ...b.source, label: b.label } },
    notes,
  };
}

function decide(
  answered: number, agreement: StatisticResult | null, references: ReferenceComparison[], pValue: number | null,
  alpha: number, minAnswered: number, total: number,
): { related: boolean | null; reason: string } {
  if (total === 0) return { related: null, reason: 'no probe both sides can answer: no shared vocabulary and no text on both sides' };
  if (answered < minAnswered || pValue === null || agreement === null) {
    return { related: null, reason: `only ${answered} of ${total} probes were answered by both sides and comparable (at least ${minAnswered} needed)` };
  }
  const against = `greedy agreement ${fmt(agreement.observed)} against ${fmt(agreement.nullMean)} ± ${fmt(agreement.nullSd)} for mismatched probes`;
  const worst = references.reduce<ReferenceComparison | null>((w, r) => (w === null || r.pValue > w.pValue ? r : w), null);
  const refText = worst ? `; against the references, at worst ${worst.reference} with ${worst.side.toUpperCase()} agrees ${fmt(worst.agreementWithReference)} (p = ${fmtP(worst.pValue)})` : '';
  if (pValue <= alpha) return { related: true, reason: `${against}${refText}: p = ${fmtP(pValue)} ≤ α = ${alpha}` };
  // Answers that do not depend on the probe at all cannot show a relation either way.
  if (agreement.nullMean >= 0.95) {
    return { related: null, reason: `the probes do not discriminate: mismatched probes agree ${fmt(agreement.nullMean)} of the time (both sides answer alike whatever the prompt)` };
  }
  return { related: false, reason: `no agreement beyond the null${worst ? 's' : ''}: ${against}${refText}; p = ${fmtP(pValue)} > α = ${alpha}` };
}

function checkCount(m: BehaviourModel, answers: Answer[], expected: number): void {
  if (answers.length !== expected) throw new Error(`${m.label} returned ${answers.length} answers for ${expected} probes`);
}

const fmt = (x: number) => x.toFixed(3);
const fmtP = (p: number) => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
