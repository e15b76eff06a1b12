/**
 * lineage as a library (`import … from 'lineage'`): the analysis, runnable in one process.
 *
 *   import { compareModels } from 'lineage';
 *   const report = await compareModels('models/base', 'models/tuned', { threads: 4 });
 *   console.log(report.verdict.label, report.verdict.confidence);
 *
 * The report's fields are those of `lineage compare --json` (README, "The report"). The cluster
 * SDK is the other entry point: `import { connect } from 'lineage/sdk'`.
 */
export { compareModels, SCHEMA_VERSION } from './compare/model-report.ts';
export type { ComparisonReport, ModelSummary } from './compare/model-report.ts';
export { compareWeights, compareCheckpoints } from './compare/weights.ts';
export type { WeightsOptions } from './compare/weights.ts';
export type { PooledReport, SamplingSettings, TensorReport, WeightsSection } from './report/weights.ts';
export type { ComponentFinding, Evidence, Verdict, VerdictLabel } from './verdict/verdict.ts';
export type { Controls } from './controls/index.ts';

export { openCheckpoint, readSafetensorsHeader, readTensorList } from './checkpoint/index.ts';
export type { Checkpoint, DType, SafetensorsEntry, SafetensorsHeader, TensorEntry } from './checkpoint/index.ts';
export { openModel, isRemoteSource } from './checkpoint/remote.ts';

export { analyzeArchitecture, loadConfig, normalizeConfig, countParams } from './arch/index.ts';
export type { ArchitectureSection, FieldDiff, NormalizedArch, ParamCount } from './arch/index.ts';
export { loadTokenizer, compareTokenizers } from './tokenizer/index.ts';
export type { Tokenizer, TokenizerSection, TokenizerComparison, Relation } from './tokenizer/index.ts';

export { synthesize } from './synth/synth.ts';
export type { SynthKind, SynthOptions, SynthResult } from './synth/synth.ts';

export { BadInputError, LineageError, UsageError, isBadInput } from './errors.ts';
export type { ErrorCode } from './errors.ts';

export { closeThreadPool, getThreadPool, runOnPool } from './exec/thread-pool.ts';
