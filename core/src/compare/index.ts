/** The comparison end to end (the public entry of core/src/compare for the other packages). */
export * from './model-report.ts';
export * from './weights.ts';
export * from './cross-pairs.ts';
