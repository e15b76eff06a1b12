/**
 * A local Hugging Face Llama-family folder as a BehaviourModel: our float32 forward pass, and the
 * folder's tokenizer (when it has one) for text probes and for naming tokens by their bytes.
 */
import { BadInputError, LineageError } from '../errors.ts';
import { createEncoder, loadTokenizer, type Encoder, type Tokenizer } from '../tokenizer/index.ts';
import { pieceKey } from '../tokenizer/pieces.ts';
import { lastLogits } from './llama-forward.ts';
import { loadLlamaWeights, type LlamaWeights } from './llama-weights.ts';
import { FULL_DISTRIBUTION_MAX_VOCAB, type Answer, type BehaviourModel, type BehaviourSource, type NextTokenOptions, type Prompt, type TokenChoice } from './model.ts';
import { logSoftmax, topIndices } from './logits.ts';

export interface LocalModelOptions {
  /** Refuse models above this many float32 bytes. */
  maxBytes?: number;
  label?: string;
}

export class LocalLlamaModel implements BehaviourModel {
  readonly label: string;
  readonly source: BehaviourSource;
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly specialIds: readonly number[];
  readonly acceptsText: boolean;
  /** Why text prompts cannot be used, when they cannot. */
  readonly textUnavailable: string | null;
  private readonly weights: LlamaWeights;
  private readonly keys: (string | undefined)[] | null;
  private readonly encoder: Encoder | null;

  private constructor(folder: string, weights: LlamaWeights, tokenizer: Tokenizer | null, encoder: Encoder | null, textUnavailable: string | null, label: string) {
    this.weights = weights;
    this.label = label;
    const c = weights.config;
    this.vocabSize = c.vocabSize;
    this.bosTokenId = c.bosTokenId;
    const special = new Set<number>();
    if (c.bosTokenId !== null) special.add(c.bosTokenId);
    for (const id of c.eosTokenIds) special.add(id);
    for (const id of Object.values(tokenizer?.specialIds ?? {})) special.add(id);
    this.specialIds = [...special].sort((a, b) => a - b);
    this.encoder = encoder;
    this.acceptsText = encoder !== null;
    this.textUnavailable = textUnavailable;
    this.keys = tokenizer
      ? tokenizer.tokens.map((piece, id) => (piece === null ? undefined : pieceKey(piece, tokenizer.pieceStyle, tokenizer.types[id] === 'byte')))
      : null;
    this.source = { kind: 'local', path: folder, format: 'safetensors', runner: 'lineage-forward-f32', dtypes: weights.dtypes, tokenizer: tokenizer?.source.path ?? null };
  }

  static async open(folder: string, options: LocalModelOptions = {}): Promise<LocalLlamaModel> {
    const weights = loadLlamaWeights(folder, { maxBytes: options.maxBytes });
    let tokenizer: Tokenizer | null = null;
    let encoder: Encoder | null = null;
    let textUnavailable: string | null = null;
    try {
      tokenizer = await loadTokenizer(folder);
      if (!tokenizer) textUnavailable = 'no tokenizer files in the folder';
      else encoder = createEncoder(tokenizer);
    } catch (err) {
      // A tokenizer that cannot be read or run costs the text probes, not the comparison.
      if (!(err instanceof LineageError)) throw err;
      textUnavailable = err.message;
    }
    if (tokenizer && tokenizer.tokens.length > weights.config.vocabSize) {
      throw new BadInputError(folder, `the tokenizer has ${tokenizer.tokens.length} tokens but the model's vocab_size is ${weights.config.vocabSize}`);
    }
    return new LocalLlamaModel(folder, weights, tokenizer, encoder, textUnavailable, options.label ?? folder);
  }

  async next(prompts: readonly Prompt[], options: NextTokenOptions): Promise<Answer[]> {
    const answers: Answer[] = [];
    for (const p of prompts) {
      answers.push(this.answer(p, options.topK));
      // One probe at a time, then the event loop: a server or an endpoint client in this process keeps answering.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return answers;
  }

  private answer(prompt: Prompt, topK: number): Answer {
    let ids: number[];
    if (prompt.kind === 'tokens') {
      ids = [...prompt.ids];
      const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
      if (bad !== undefined) return { missing: `token id ${bad} is outside the vocabulary (0..${this.vocabSize - 1})` };
    } else {
      if (!this.encoder) return { missing: `text prompts need a tokenizer (${this.textUnavailable})` };
      ids = this.encoder.encode(prompt.text);
      if (this.bosTokenId !== null) ids.unshift(this.bosTokenId);
    }
    if (ids.length === 0) return { missing: 'the prompt encodes to no tokens' };
    if (ids.length > this.weights.config.maxPositions) return { missing: `the prompt is ${ids.length} tokens, longer than max_position_embeddings ${this.weights.config.maxPositions}` };
    const logprobs = logSoftmax(lastLogits(this.weights, ids));
    const choice = (id: number): TokenChoice => {
      const key = this.keys?.[id];
      return key === undefined ? { id, logprob: logprobs[id]! } : { id, key, logprob: logprobs[id]! };
    };
    const top = topIndices(logprobs, topK).map(choice);
    return logprobs.length <= FULL_DISTRIBUTION_MAX_VOCAB ? { greedy: top[0]!, top, logprobs } : { greedy: top[0]!, top };
  }
}
