/** Synthetic checkpoints. */
export * from './synth.ts';
export type { SynthShape } from './architecture.ts';
