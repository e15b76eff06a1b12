/**
 * A GGUF file run by llama.cpp (through node-llama-cpp, a development dependency pinned to 3.21.1,
 * loaded only when a GGUF side is asked for) as a BehaviourModel. CPU only, with a float32
 * key/value cache: llama.cpp's default F16 cache moves log-probabilities by ~1e-2, the float32 one
 * agrees with our forward pass to ~1e-5 (test/behaviour-llamacpp.test.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BadInputError, LineageError } from '../errors.ts';
import { readGgufFile } from '../tokenizer/formats/gguf.ts';
import { PLACEHOLDER_VOCABULARY } from './gguf-export.ts';
import { logSoftmaxFromProbabilities, topIndices } from './logits.ts';
import { FULL_DISTRIBUTION_MAX_VOCAB, type Answer, type BehaviourModel, type BehaviourSource, type NextTokenOptions, type Prompt, type TokenChoice } from './model.ts';

/** The few parts of node-llama-cpp used here (its own types stay out of this project's declarations). */
interface LlamaCppSequence {
  clearHistory(): Promise<void>;
  controlledEvaluate(input: (number | [number, { generateNext: { probabilities: true } }])[]): Promise<({ next?: { probabilities?: Map<number, number> } } | undefined)[]>;
}
interface LlamaCppContext { getSequence(): LlamaCppSequence; dispose(): Promise<void> }
interface LlamaCppModelHandle {
  tokens: { bos: number | null; eos: number | null };
  fileInfo: { metadata: Record<string, unknown> };
  tokenize(text: string): number[];
  detokenize(tokens: number[]): string;
  createContext(options: Record<string, unknown>): Promise<LlamaCppContext>;
  dispose(): Promise<void>;
}
interface LlamaCpp { loadModel(options: { modelPath: string }): Promise<LlamaCppModelHandle>; dispose(): Promise<void> }

export const LLAMA_CPP_PACKAGE = 'node-llama-cpp';

async function loadLlamaCpp(): Promise<LlamaCpp> {
  let mod: { getLlama(options: Record<string, unknown>): Promise<LlamaCpp> };
  try {
    mod = (await import(LLAMA_CPP_PACKAGE)) as typeof mod;
  } catch (err) {
    throw new LineageError('UNSUPPORTED', `running GGUF files needs ${LLAMA_CPP_PACKAGE} (npm i -E ${LLAMA_CPP_PACKAGE}@3.21.1): ${(err as Error).message}`);
  }
  // One thread: llama.cpp's threads spin while they wait for each other, which on a busy machine
  // costs far more than they save on models this size.
  return mod.getLlama({ gpu: false, build: 'never', logLevel: 'error', maxThreads: 1 });
}

export class LlamaCppModel implements BehaviourModel {
  readonly acceptsText: boolean;
  readonly source: BehaviourSource;
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly specialIds: readonly number[];
  private readonly keys = new Map<number, string>();

  private constructor(
    readonly label: string,
    private readonly llama: LlamaCpp,
    private readonly model: LlamaCppModelHandle,
    private readonly context: LlamaCppContext,
    private readonly sequence: LlamaCppSequence,
    private readonly contextSize: number,
    path: string,
  ) {
    const tokens = ((model.fileInfo.metadata.tokenizer as { ggml?: { tokens?: unknown[] } } | undefined)?.ggml?.tokens ?? []).length;
    this.vocabSize = tokens;
    this.bosTokenId = model.tokens.bos;
    this.specialIds = [model.tokens.bos, model.tokens.eos].filter((t): t is number => t !== null);
    // Our own GGUF exports carry a placeholder vocabulary: token probes only.
    this.acceptsText = (model.fileInfo.metadata.lineage as { vocabulary?: unknown } | undefined)?.vocabulary !== PLACEHOLDER_VOCABULARY;
    this.source = { kind: 'local', path, format: 'gguf', runner: 'llama.cpp', dtypes: [], tokenizer: path };
  }

  static async open(path: string, options: { label?: string; contextSize?: number } = {}): Promise<LlamaCppModel> {
    await checkGgufFile(path);
    const llama = await loadLlamaCpp();
    let model: LlamaCppModelHandle;
    try {
      model = await llama.loadModel({ modelPath: path });
    } catch (err) {
      await llama.dispose();
      throw new LineageError('BAD_INPUT', `${path}: llama.cpp cannot load it (${(err as Error).message})`);
    }
    const contextSize = options.contextSize ?? 512;
    const context = await model.createContext({
      contextSize, sequences: 1, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
    });
    return new LlamaCppModel(options.label ?? path, llama, model, context, context.getSequence(), contextSize, path);
  }

  async next(prompts: readonly Prompt[], options: NextTokenOptions): Promise<Answer[]> {
    const answers: Answer[] = [];
    // One sequence, one probe at a time: each starts from an empty history.
    for (const p of prompts) answers.push(await this.answer(p, options.topK));
    return answers;
  }

  /** Log-probabilities of the next token after `ids`, by id (for checking our forward pass against llama.cpp). */
  async logprobs(ids: readonly number[]): Promise<Float64Array> {
    await this.sequence.clearHistory();
    const input = ids.map((t, i) => (i === ids.length - 1 ? ([t, { generateNext: { probabilities: true } }] as [number, { generateNext: { probabilities: true } }]) : t));
    const out = await this.sequence.controlledEvaluate(input);
    const probabilities = out[ids.length - 1]?.next?.probabilities;
    if (!probabilities) throw new LineageError('INTERNAL', `${this.label}: llama.cpp returned no probabilities`);
    return logSoftmaxFromProbabilities(probabilities, this.vocabSize);
  }

  private async answer(prompt: Prompt, topK: number): Promise<Answer> {
    if (prompt.kind === 'text' && !this.acceptsText) return { missing: 'this GGUF file has a placeholder vocabulary: token probes only' };
    const ids = prompt.kind === 'tokens' ? [...prompt.ids] : [...(this.bosTokenId === null ? [] : [this.bosTokenId]), ...this.model.tokenize(prompt.text)];
    if (ids.length === 0) return { missing: 'the prompt encodes to no tokens' };
    if (ids.length > this.contextSize) return { missing: `the prompt is ${ids.length} tokens, longer than the context of ${this.contextSize}` };
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad !== undefined) return { missing: `token id ${bad} is outside the vocabulary (0..${this.vocabSize - 1})` };
    const logprobs = await this.logprobs(ids);
    const choice = (id: number): TokenChoice => ({ id, key: this.key(id), logprob: logprobs[id]! });
    const top = topIndices(logprobs, topK).map(choice);
    return logprobs.length <= FULL_DISTRIBUTION_MAX_VOCAB ? { greedy: top[0]!, top, logprobs } : { greedy: top[0]!, top };
  }

  private key(id: number): string {
    let k = this.keys.get(id);
    if (k === undefined) this.keys.set(id, (k = Buffer.from(this.model.detokenize([id]), 'utf8').toString('latin1')));
    return k;
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}

/**
 * The header checked before llama.cpp sees the file: llama.cpp given a file that only looks like
 * GGUF can hang or abort the process, where a BadInputError names the file and the fault.
 */
async function checkGgufFile(path: string): Promise<void> {
  let size: number;
  const magic = Buffer.alloc(4);
  try {
    const fd = openSync(path, 'r');
    try {
      size = fstatSync(fd).size;
      readSync(fd, magic, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new BadInputError(path, `cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (magic.toString('latin1') !== 'GGUF') throw new BadInputError(path, 'not a GGUF file (no GGUF magic; a compressed file must be unpacked first)');
  const gguf = await readGgufFile(path);
  for (const t of gguf.tensors) {
    if (gguf.dataOffset + t.offset >= size) throw new BadInputError(path, `tensor '${t.name}' starts past the end of the file (truncated?)`);
  }
}
