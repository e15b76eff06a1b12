/**
 * An OpenAI-compatible endpoint as a BehaviourModel: `/v1/completions` with `logprobs` (one
 * output token, temperature 0: the greedy next token and the leading candidates), falling back to
 * `/v1/chat/completions` when the server has no completions route (the chat template then sits
 * between the probe and the model, which the source records). Everything in a response is
 * untrusted: an answer that is empty, refused or malformed is a MissingAnswer with the reason,
 * never a guess, and never agreement.
 */
import { BadInputError } from '../errors.ts';
import { EndpointTransport, type TransportOptions } from './endpoint-transport.ts';
import type { Answer, BehaviourModel, BehaviourSource, NextTokenAnswer, NextTokenOptions, Prompt, TokenChoice } from './model.ts';
import { ResponseCache } from './response-cache.ts';

export interface EndpointOptions extends TransportOptions {
  /** Base URL: `http://host:port`, or one ending in `/v1`. */
  url: string;
  model: string;
  label?: string;
  /** `auto` tries completions first and falls back to chat on 404/405. */
  api?: 'auto' | 'completions' | 'chat';
  /** Output tokens asked for (only the first is used). Default 1, at most 16. */
  maxTokens?: number;
  cache?: ResponseCache;
}

type Api = 'completions' | 'chat';

export class EndpointModel implements BehaviourModel {
  readonly label: string;
  readonly vocabSize = null;
  readonly bosTokenId = null;
  readonly specialIds: readonly number[] = [];
  readonly acceptsText = true;
  readonly transport: EndpointTransport;
  readonly cache: ResponseCache;
  private readonly base: string;
  private readonly model: string;
  private readonly maxTokens: number;
  private api: Api | null;
  private readonly apiAsked: 'auto' | Api;
  private fellBack = false;

  constructor(options: EndpointOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new BadInputError(options.url, 'not a URL (expected http(s)://host[:port][/v1])');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BadInputError(options.url, `${url.protocol} is not http or https`);
    if (url.username || url.password) throw new BadInputError(url.host, 'put credentials in --api-key, not in the URL');
    if (!options.model) throw new BadInputError(options.url, 'no model name given (--model-a / --model-b)');
    const path = url.pathname.replace(/\/+$/, '');
    this.base = `${url.origin}${path.endsWith('/v1') ? path : `${path}/v1`}`;
    this.model = options.model;
    this.label = options.label ?? `${options.model}@${url.host}`;
    this.maxTokens = Math.min(16, Math.max(1, Math.floor(options.maxTokens ?? 1)));
    this.apiAsked = options.api ?? 'auto';
    this.api = this.apiAsked === 'auto' ? null : this.apiAsked;
    this.transport = new EndpointTransport(options);
    this.cache = options.cache ?? new ResponseCache();
  }

  get source(): BehaviourSource {
    const api = this.api === null ? 'completions' : this.fellBack ? 'completions+chat' : this.api;
    return { kind: 'endpoint', url: this.base, model: this.model, api };
  }

  async next(prompts: readonly Prompt[], options: NextTokenOptions): Promise<Answer[]> {
    const answers: Answer[] = new Array(prompts.length);
    let start = 0;
    // Until the API is known, ask one probe at a time: the first answer tells which route exists.
    while (this.api === null && start < prompts.length) {
      answers[start] = await this.answer(prompts[start]!, options.topK);
      start++;
    }
    await Promise.all(prompts.slice(start).map(async (p, i) => (answers[start + i] = await this.answer(p, options.topK))));
    return answers;
  }

  private async answer(prompt: Prompt, topK: number): Promise<Answer> {
    if (prompt.kind !== 'text') return { missing: 'the endpoint takes text prompts only' };
    const api = this.api ?? 'completions';
    const request = this.request(api, prompt.text, topK);
    const key = ResponseCache.key({ url: this.base, api, ...request });
    const cached = this.cache.get(key);
    if (cached) return cached;
    const result = await this.transport.post(`${this.base}/${api === 'chat' ? 'chat/completions' : 'completions'}`, request);
    if (!result.ok) {
      if (result.status === 401 || result.status === 403) {
        throw new BadInputError(this.base, `the endpoint refused the request (HTTP ${result.status}): check the API key`);
      }
      if (this.api === null && api === 'completions' && (result.status === 404 || result.status === 405)) {
        this.api = 'chat';
        this.fellBack = true;
        return this.answer(prompt, topK);
      }
      return { missing: `${result.error} after ${result.attempts} attempt(s)` };
    }
    if (this.api === null) this.api = api;
    const answer = api === 'chat' ? parseChat(result.body, topK) : parseCompletion(result.body, topK);
    if (!('missing' in answer)) this.cache.set(key, answer);
    return answer;
  }

  private request(api: Api, text: string, topK: number): Record<string, unknown> {
    if (api === 'chat') {
      return { model: this.model, messages: [{ role: 'user', content: text }], max_tokens: this.maxTokens, temperature: 0, logprobs: true, top_logprobs: Math.min(topK, 20) };
    }
    return { model: this.model, prompt: text, max_tokens: this.maxTokens, temperature: 0, logprobs: topK, echo: false };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function firstChoice(body: unknown): Record<string, unknown> | string {
  if (!isObject(body)) return 'the response is not a JSON object';
  if (isObject(body.error)) return `the endpoint answered with an error (${String(body.error.message ?? 'no message').slice(0, 120)})`;
  const choices = body.choices;
  if (!Array.isArray(choices) || choices.length === 0) return 'no choices in the response (empty answer)';
  const choice = choices[0];
  if (!isObject(choice)) return 'the first choice is not an object';
  if (choice.finish_reason === 'content_filter') return 'refused (finish_reason content_filter)';
  return choice;
}

/** `/v1/completions`: choices[0].logprobs = {tokens, token_logprobs, top_logprobs: [{token: logprob}]}. */
export function parseCompletion(body: unknown, topK: number): Answer {
  const choice = firstChoice(body);
  if (typeof choice === 'string') return { missing: choice };
  const logprobs = choice.logprobs;
  const text = typeof choice.text === 'string' ? choice.text : '';
  if (!isObject(logprobs)) {
    if (text === '') return { missing: 'empty answer (no text, no logprobs)' };
    return greedyOnly(text);
  }
  const tokens = logprobs.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0 || typeof tokens[0] !== 'string') {
    return text === '' ? { missing: 'empty answer (no tokens)' } : greedyOnly(text);
  }
  const first = tokens[0];
  if (first === '') return { missing: 'empty answer (the first token is empty)' };
  const lp = Array.isArray(logprobs.token_logprobs) ? logprobs.token_logprobs[0] : undefined;
  const greedy: TokenChoice = { key: tokenKey(first), logprob: finite(lp) ? lp : 0 };
  const table = Array.isArray(logprobs.top_logprobs) ? logprobs.top_logprobs[0] : undefined;
  const top: TokenChoice[] = isObject(table)
    ? Object.entries(table).filter(([, v]) => finite(v)).map(([t, v]) => ({ key: tokenKey(t), logprob: v as number }))
    : [];
  return finish(greedy, top, topK);
}

/** `/v1/chat/completions`: choices[0].logprobs.content[0] = {token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}. */
export function parseChat(body: unknown, topK: number): Answer {
  const choice = firstChoice(body);
  if (typeof choice === 'string') return { missing: choice };
  const message = isObject(choice.message) ? choice.message : {};
  if (typeof message.refusal === 'string' && message.refusal !== '') return { missing: 'refused (message.refusal)' };
  const content = typeof message.content === 'string' ? message.content : '';
  const entries = isObject(choice.logprobs) && Array.isArray(choice.logprobs.content) ? choice.logprobs.content : [];
  const entry = entries[0];
  if (!isObject(entry) || typeof entry.token !== 'string' || entry.token === '') {
    return content === '' ? { missing: 'empty answer (no content, no logprobs)' } : greedyOnly(content);
  }
  const choiceOf = (e: Record<string, unknown>): TokenChoice | null =>
    typeof e.token === 'string' && finite(e.logprob) ? { key: chatKey(e), logprob: e.logprob } : null;
  const greedy = choiceOf(entry) ?? { key: chatKey(entry), logprob: 0 };
  const top = (Array.isArray(entry.top_logprobs) ? entry.top_logprobs : []).filter(isObject).map(choiceOf).filter((c): c is TokenChoice => c !== null);
  return finish(greedy, top, topK);
}

function finish(greedy: TokenChoice, top: TokenChoice[], topK: number): NextTokenAnswer {
  top.sort((x, y) => y.logprob - x.logprob);
  return { greedy, top: top.slice(0, topK) };
}

/** An answer without logprobs: its greedy token only (top-k overlap and divergence then count it as far apart). */
function greedyOnly(text: string): NextTokenAnswer {
  return { greedy: { key: tokenKey(text), logprob: 0 }, top: [] };
}

/**
 * A token's text as a byte-string key (as pieceKey makes for local tokenizers). OpenAI spells a
 * token that is not whole UTF-8 as `bytes:\xNN...`.
 */
export function tokenKey(token: string): string {
  if (token.startsWith('bytes:')) {
    const hex = [...token.slice(6).matchAll(/\\x([0-9a-fA-F]{2})/g)].map((m) => parseInt(m[1]!, 16));
    if (hex.length > 0) return String.fromCharCode(...hex);
  }
  return Buffer.from(token, 'utf8').toString('latin1');
}

function chatKey(e: Record<string, unknown>): string {
  const bytes = e.bytes;
  if (Array.isArray(bytes) && bytes.length > 0 && bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256)) return String.fromCharCode(...(bytes as number[]));
  return tokenKey(String(e.token));
}
