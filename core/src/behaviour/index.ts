/** Behavioural evidence: what two models do on the same probes, tested against a null. */
export { compareBehaviour } from './compare.ts';
export type { BehaviourOptions, BehaviourSection, StatisticResult } from './compare.ts';
export type { Answer, BehaviourModel, BehaviourSource, MissingAnswer, NextTokenAnswer, Prompt, TokenChoice } from './model.ts';
export { isMissing } from './model.ts';
export { LocalLlamaModel } from './local-model.ts';
export { loadLlamaWeights, DEFAULT_MAX_MODEL_BYTES } from './llama-weights.ts';
export type { LlamaWeights } from './llama-weights.ts';
export { parseLlamaConfig } from './llama-config.ts';
export type { LlamaConfig } from './llama-config.ts';
export { LlamaSession, allLogits, lastLogits, greedyDecode, argmax } from './llama-forward.ts';
export { PROMPT_SET_VERSION, PROMPTS_V1 } from './prompts-v1.ts';
export { renderBehaviourMarkdown, renderBehaviourText } from './render.ts';
export { EndpointModel, parseChat, parseCompletion, tokenKey } from './endpoint.ts';
export type { EndpointOptions } from './endpoint.ts';
export { EndpointTransport } from './endpoint-transport.ts';
export type { TransportOptions } from './endpoint-transport.ts';
export { ResponseCache } from './response-cache.ts';
