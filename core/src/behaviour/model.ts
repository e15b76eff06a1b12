/**
 * What a side of a behavioural comparison is: something that, given prompts, says which token it
 * would emit next and how likely the leading candidates are. Local checkpoints (our forward pass)
 * and OpenAI-compatible endpoints both implement it, so the statistics never know which is which.
 */

/** A probe: token ids (when both sides share a vocabulary) or text (when both can take text). */
export type Prompt =
  | { kind: 'tokens'; ids: readonly number[] }
  | { kind: 'text'; text: string };

/**
 * A candidate next token. `id` is set where the side knows token ids (a local model); `key` where
 * it knows the bytes the token stands for (a tokenizer, or an endpoint's token text), as a byte
 * string (one UTF-16 unit per byte), so that sides with different vocabularies compare by text.
 */
export interface TokenChoice {
  id?: number;
  key?: string;
  logprob: number;
}

export interface NextTokenAnswer {
  /** The greedy (most likely) next token. */
  greedy: TokenChoice;
  /** The leading candidates, most likely first (at most the top-k asked for). */
  top: TokenChoice[];
  /**
   * Log-probabilities over the whole vocabulary by id, where the side exposes them (local models
   * with vocabularies up to FULL_DISTRIBUTION_MAX_VOCAB: beyond that, hundreds of probes would hold
   * hundreds of MB and the divergence's null would cost vocabulary × probes × draws).
   */
  logprobs?: Float64Array;
}

/** A probe a side did not answer: an empty or refused response, a failure. Never counted as agreement. */
export interface MissingAnswer {
  missing: string;
}

export type Answer = NextTokenAnswer | MissingAnswer;

/** Above this vocabulary size answers carry only their top-k (see NextTokenAnswer.logprobs). */
export const FULL_DISTRIBUTION_MAX_VOCAB = 4096;

export const isMissing = (a: Answer): a is MissingAnswer => 'missing' in a;

export type BehaviourSource =
  | { kind: 'local'; path: string; format: 'safetensors' | 'gguf'; runner: 'lineage-forward-f32' | 'llama.cpp'; dtypes: string[]; tokenizer: string | null }
  | { kind: 'endpoint'; url: string; model: string; api: 'completions' | 'chat' | 'completions+chat' };

export interface NextTokenOptions {
  /** How many leading candidates to return. */
  topK: number;
}

export interface BehaviourModel {
  /** A short name for reports. */
  readonly label: string;
  readonly source: BehaviourSource;
  /** The size of the id space token probes may use, null when the side does not take token ids. */
  readonly vocabSize: number | null;
  /** The BOS id a token probe starts with, null when none is known. */
  readonly bosTokenId: number | null;
  /** Ids that are special (BOS, EOS, ...) and kept out of random probes. */
  readonly specialIds: readonly number[];
  /** Whether the side takes text prompts (a tokenizer, or an endpoint). */
  readonly acceptsText: boolean;
  /** One answer per prompt, in order; a failure for one prompt is a MissingAnswer, not a throw. */
  next(prompts: readonly Prompt[], options: NextTokenOptions): Promise<Answer[]>;
  close?(): Promise<void> | void;
}
