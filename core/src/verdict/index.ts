/** The judgement from the evidence. */
export * from './verdict.ts';
export * from './aligned.ts';
