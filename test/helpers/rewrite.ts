/** Builds test checkpoints from others (the same helpers the evaluation set uses). */
export { readTensor, rewrite, shuffled } from '../../core/src/synth/rewrite.ts';
