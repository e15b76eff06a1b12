/**
 * A cheaper reading of the expert null (issue 12 item 3, option 3): the observed matched mean as
 * one more draw from a normal with the draws' own mean and spread (Student's t predictive
 * p-value, as the aligned tests use), instead of the share of draws that reach it. The empirical
 * p-value needs ≥ 99 draws before it can say p ≤ 0.01 at all (at 256 experts the control runs 19
 * and can never get there); the predictive one reads a 1% tail from 39.
 *
 * Validity is measured, not assumed: test/controls-assignment-fpr.test.ts runs it on independent
 * models with within-model structure and checks its rejection rate at 1%, 5% and 10% against
 * binomial bounds (draw count set on development seeds, judged on others). analyzeLayer still
 * reads the empirical p-value; adopting this one is the caller's change (see the report).
 */
import { predictivePValue } from '../align/stats.ts';

/** Draws of the null that the predictive p-value was validated with. */
export const PREDICTIVE_NULL_REPLICATES = 39;

/** Upper-tail p of the observed matched mean against the null's draws, by Student's t with n − 1 degrees of freedom. */
export function expertNullPValue(observed: number, draws: Float64Array): number {
  // The floor only keeps a degenerate null (every draw equal) from dividing by zero.
  return predictivePValue(observed, Array.from(draws), 1e-12).pValue;
}
