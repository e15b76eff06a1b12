/**
 * A cross-check that needs no weights: model.safetensors.index.json records the checkpoint's
 * byte size, and bytes / bytes-per-parameter is the parameter count the config should predict.
 */
import type { CheckpointIndexInfo } from './load.ts';
import type { NormalizedArch, ParamCount } from './types.ts';

export interface IndexSizeCheck {
  file: string;
  totalSize: number | null;
  bytesPerParam: number | null;
  /** totalSize / bytesPerParam. */
  impliedParams: number | null;
  /** What the config predicts the checkpoint holds (main stack + MTP + vision). */
  expectedParams: number | null;
  relativeDifference: number | null;
  note: string | null;
}

const BYTES: Record<string, number> = {
  float32: 4, fp32: 4, float: 4,
  bfloat16: 2, bf16: 2, float16: 2, fp16: 2, half: 2,
  float8_e4m3fn: 1, float8_e5m2: 1, fp8: 1,
};

export function checkIndexSize(arch: NormalizedArch, params: ParamCount, index: CheckpointIndexInfo): IndexSizeCheck {
  const bytesPerParam = arch.quantization ? null : arch.dtype ? BYTES[arch.dtype.toLowerCase()] ?? null : null;
  const impliedParams = index.totalSize !== null && bytesPerParam ? index.totalSize / bytesPerParam : null;
  const expectedParams = params.checkpointParams;
  let note: string | null = null;
  if (index.totalSize === null) note = 'the index records no metadata.total_size';
  else if (arch.quantization) note = `quantized checkpoint (${arch.quantization}): bytes do not translate into parameters`;
  else if (!bytesPerParam) note = `unknown bytes per parameter for torch_dtype ${JSON.stringify(arch.dtype)}`;
  else if (expectedParams === null) note = 'the config count is incomplete (see notes)';
  const relativeDifference = impliedParams !== null && expectedParams ? (impliedParams - expectedParams) / expectedParams : null;
  if (relativeDifference !== null && Math.abs(relativeDifference) > 1e-3) {
    note = 'the checkpoint size disagrees with the config: tensors in another dtype (fp32 norms, biases), extra or missing tensors, or a config that does not describe these weights';
  }
  return { file: index.file, totalSize: index.totalSize, bytesPerParam, impliedParams, expectedParams, relativeDifference, note };
}
