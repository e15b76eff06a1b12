/** The weights section of the report. */
export * from './weights.ts';
