/**
 * The probes both sides answer: seeded random token sequences over the ids both vocabularies have
 * (when both take token ids), and the fixed, versioned text prompt set (when both take text).
 * The same seed gives the same probes, so a run can be repeated and its answers cached.
 */
import { Random } from '../synth/random.ts';
import type { BehaviourModel, Prompt } from './model.ts';
import { PROMPT_SET_VERSION, PROMPTS_V1 } from './prompts-v1.ts';

export interface ProbeOptions {
  /** How many random token sequences. */
  tokenProbes: number;
  seed: number;
  /** Lengths of the random sequences (BOS not counted), inclusive. */
  minLength?: number;
  maxLength?: number;
  /** Whether to use the text prompt set when both sides take text. */
  text?: boolean;
}

export interface Probe {
  /** `tokens:<seed>:<i>` or `text:<version>:<i>`: stable names for caches and reports. */
  name: string;
  /** The stratum the permutation null keeps probes within. */
  set: 'tokens' | 'text';
  prompt: Prompt;
}

export interface ProbePlan {
  probes: Probe[];
  /** Ids < sharedVocab were drawn from; null when no token probes were made. */
  sharedVocab: number | null;
  textSet: string | null;
  /** Why a probe family was left out. */
  notes: string[];
}

export function planProbes(a: BehaviourModel, b: BehaviourModel, options: ProbeOptions): ProbePlan {
  const notes: string[] = [];
  const probes: Probe[] = [];
  let sharedVocab: number | null = null;
  if (a.vocabSize !== null && b.vocabSize !== null) {
    sharedVocab = Math.min(a.vocabSize, b.vocabSize);
    const special = new Set([...a.specialIds, ...b.specialIds]);
    const pool: number[] = [];
    for (let id = 0; id < sharedVocab; id++) if (!special.has(id)) pool.push(id);
    // Both sides start from BOS only when it is the same id on both (a different BOS is itself a difference the probe should not hide).
    const bos = a.bosTokenId !== null && a.bosTokenId === b.bosTokenId ? a.bosTokenId : null;
    if (pool.length < 2) {
      notes.push(`token probes skipped: the shared id range 0..${sharedVocab - 1} has fewer than 2 non-special ids`);
      sharedVocab = null;
    } else {
      const random = new Random(options.seed, 'behaviour-token-probes');
      const lo = options.minLength ?? 4;
      const hi = Math.max(lo, options.maxLength ?? 16);
      for (let i = 0; i < options.tokenProbes; i++) {
        const length = lo + Math.floor(random.uniform() * (hi - lo + 1));
        const ids: number[] = bos === null ? [] : [bos];
        for (let j = 0; j < length; j++) ids.push(pool[Math.floor(random.uniform() * pool.length)]!);
        probes.push({ name: `tokens:${options.seed}:${i}`, set: 'tokens', prompt: { kind: 'tokens', ids } });
      }
    }
  } else {
    notes.push('token probes skipped: a side does not take token ids (no shared vocabulary known)');
  }
  let textSet: string | null = null;
  if (options.text === false) {
    notes.push('text probes not asked for');
  } else if (a.acceptsText && b.acceptsText) {
    textSet = PROMPT_SET_VERSION;
    PROMPTS_V1.forEach((p, i) => probes.push({ name: `text:${PROMPT_SET_VERSION}:${i}`, set: 'text', prompt: { kind: 'text', text: p.text } }));
  } else {
    const which = [a, b].filter((m) => !m.acceptsText).map((m) => m.label);
    notes.push(`text probes skipped: ${which.join(' and ')} cannot take text (no usable tokenizer)`);
  }
  return { probes, sharedVocab, textSet, notes };
}
