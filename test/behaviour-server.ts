/**
 * A real OpenAI-compatible HTTP server on loopback for the endpoint tests, with one of our local
 * models behind it (the built-in forward pass): `/v1/completions` with `logprobs`, and
 * `/v1/chat/completions` with `top_logprobs` (the message content is the prompt as is: this server
 * has no chat template). Faults are injected per request: 429s, 500s, empty answers, slow answers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BehaviourModel, TokenChoice } from '../core/src/behaviour/index.ts';

export type Fault = 'ok' | '429' | '500' | 'empty' | 'slow' | 'refuse';

export interface ServerOptions {
  model: BehaviourModel;
  /** The model name the server answers to. */
  name: string;
  apiKey?: string;
  routes?: { completions?: boolean; chat?: boolean };
  /** Which fault the n-th request (from 0) for this prompt meets. */
  fault?: (prompt: string, nthForPrompt: number, requestIndex: number) => Fault;
  slowMs?: number;
}

export interface RunningServer {
  url: string;
  requests: number;
  maxInFlight: number;
  faults: Record<Fault, number>;
  close(): Promise<void>;
}

export async function startOpenAiServer(options: ServerOptions): Promise<RunningServer> {
  const routes = { completions: true, chat: true, ...options.routes };
  const seen = new Map<string, number>();
  let inFlight = 0;
  const state: RunningServer = {
    url: '',
    requests: 0,
    maxInFlight: 0,
    faults: { ok: 0, '429': 0, '500': 0, empty: 0, slow: 0, refuse: 0 },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const index = state.requests++;
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) return reply(res, 401, { error: { message: 'invalid api key' } });
    const route = req.url === '/v1/completions' ? 'completions' : req.url === '/v1/chat/completions' ? 'chat' : null;
    if (req.method !== 'POST' || route === null || !routes[route]) return reply(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    if (body.model !== options.name) return reply(res, 404, { error: { message: `model '${String(body.model)}' not found` } });
    const prompt = route === 'chat' ? String((body.messages as { content: string }[])[0]!.content) : String(body.prompt);
    const nth = seen.get(prompt) ?? 0;
    seen.set(prompt, nth + 1);
    const fault = options.fault?.(prompt, nth, index) ?? 'ok';
    state.faults[fault]++;
    if (fault === '429') return reply(res, 429, { error: { message: 'rate limited' } }, { 'retry-after': '0' });
    if (fault === '500') return reply(res, 500, { error: { message: 'internal error' } });
    if (fault === 'slow') await new Promise((r) => setTimeout(r, options.slowMs ?? 2000).unref());
    const topK = route === 'chat' ? Number(body.top_logprobs ?? 0) : Number(body.logprobs ?? 0);
    const [answer] = await options.model.next([{ kind: 'text', text: prompt }], { topK: Math.max(1, topK) });
    if (!answer || 'missing' in answer) return reply(res, 500, { error: { message: 'the model could not answer' } });
    const text = (c: TokenChoice) => Buffer.from(c.key ?? '', 'latin1').toString('utf8');
    if (route === 'completions') {
      const choice = fault === 'empty'
        ? { index: 0, text: '', logprobs: { tokens: [], token_logprobs: [], top_logprobs: [] }, finish_reason: 'length' }
        : fault === 'refuse'
          ? { index: 0, text: '', logprobs: null, finish_reason: 'content_filter' }
          : {
            index: 0,
            text: text(answer.greedy),
            logprobs: { tokens: [text(answer.greedy)], token_logprobs: [answer.greedy.logprob], top_logprobs: [Object.fromEntries(answer.top.map((c) => [text(c), c.logprob]))], text_offset: [0] },
            finish_reason: 'length',
          };
      return reply(res, 200, { id: `cmpl-${index}`, object: 'text_completion', model: options.name, choices: [choice] });
    }
    const entry = (c: TokenChoice) => ({ token: text(c), logprob: c.logprob, bytes: [...Buffer.from(c.key ?? '', 'latin1')] });
    const choice = fault === 'empty'
      ? { index: 0, message: { role: 'assistant', content: '' }, logprobs: { content: [] }, finish_reason: 'length' }
      : fault === 'refuse'
        ? { index: 0, message: { role: 'assistant', content: null, refusal: 'I cannot help with that.' }, logprobs: null, finish_reason: 'stop' }
        : { index: 0, message: { role: 'assistant', content: text(answer.greedy) }, logprobs: { content: [{ ...entry(answer.greedy), top_logprobs: answer.top.map(entry) }] }, finish_reason: 'length' };
    return reply(res, 200, { id: `chat-${index}`, object: 'chat.completion', model: options.name, choices: [choice] });
  };
  const server = createServer((req, res) => {
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    // In flight until answered or abandoned by the client (a timed-out request it retries is
    // no longer one of its concurrent requests, even while this handler is still running).
    res.once('close', () => inFlight--);
    handle(req, res).catch((err) => reply(res, 500, { error: { message: String(err) } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
