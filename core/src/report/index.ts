/** The weights section of the report, and the report's JSON written in steps. */
export * from './weights.ts';
export * from './json-steps.ts';
