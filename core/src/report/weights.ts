/**
 * The `weights` section of the report: one entry per matched tensor (fields fixed by DESIGN.md),
 * and pooled figures per layer and per role, all merged in tensor order.
 */
import type { HashAlgorithm } from '../hash/content-hash.ts';
import type { KernelName } from '../kernels/kernel.ts';
import type { MatchedTensor } from '../roles/match.ts';
import type { RoleGroup } from '../roles/roles.ts';
import type { ItemResult } from '../exec/run-task.ts';
import { emptyMoments, finalizeMoments, mergeMoments, type Moments } from '../stats/moments.ts';

export interface TensorReport {
  name: string | null;
  nameB: string | null;
  role: string;
  group: RoleGroup;
  layer: number | null;
  expert: number | null;
  shape: number[] | null;
  shapeB: number[] | null;
  dtypeA: string | null;
  dtypeB: string | null;
  n: number | null;
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  mse: number | null;
  maxAbsDiff: number | null;
  /** Byte-identical (same dtype, shape and content hash). */
  identical: boolean | null;
  hashA: string | null;
  hashB: string | null;
  nanA: number;
  infA: number;
  nanB: number;
  infB: number;
  note: string | null;
}

export interface PooledReport {
  tensors: number;
  identical: number;
  n: number;
  /** Statistics of all compared tensors of the group taken as one concatenated vector. */
  cosine: number | null;
  centeredCosine: number | null;
  relL2: number | null;
  /** Plain mean and minimum of the per-tensor values. */
  meanCosine: number | null;
  minCosine: number | null;
  meanCenteredCosine: number | null;
  minCenteredCosine: number | null;
}

export interface WeightsSection {
  mode: 'exact';
  kernel: KernelName;
  hashAlgorithm: HashAlgorithm | null;
  summary: {
    tensorsA: number;
    tensorsB: number;
    compared: number;
    identical: number;
    notCompared: number;
    onlyA: number;
    onlyB: number;
    failed: number;
    elementsCompared: number;
  };
  tensors: TensorReport[];
  layers: (PooledReport & { layer: number })[];
  roles: (PooledReport & { role: string; group: RoleGroup })[];
}

export function buildWeightsSection(
  matched: MatchedTensor[], results: ItemResult[], meta: { kernel: KernelName; hashAlgorithm: HashAlgorithm | null },
): WeightsSection {
  const moments: (Moments | null)[] = [];
  const tensors = matched.map((m, i) => {
    const r = results[i];
    moments.push(r?.moments ?? null);
    return tensorReport(m, r);
  });
  const summary = {
    tensorsA: matched.filter((m) => m.a).length,
    tensorsB: matched.filter((m) => m.b).length,
    compared: tensors.filter((t) => t.n !== null).length,
    identical: tensors.filter((t) => t.identical).length,
    notCompared: matched.filter((m) => m.a && m.b && !m.comparable).length,
    onlyA: matched.filter((m) => m.a && !m.b).length,
    onlyB: matched.filter((m) => !m.a && m.b).length,
    failed: results.filter((r) => r?.error).length,
    elementsCompared: tensors.reduce((s, t) => s + (t.n ?? 0), 0),
  };
  return {
    mode: 'exact',
    kernel: meta.kernel,
    hashAlgorithm: meta.hashAlgorithm,
    summary,
    tensors,
    layers: pool(tensors, moments, (t) => (t.layer === null ? null : String(t.layer))).map(([k, p]) => ({ layer: Number(k), ...p })),
    roles: pool(tensors, moments, (t) => t.role).map(([k, p]) => ({ role: k, group: tensors.find((t) => t.role === k)!.group, ...p })),
  };
}

function tensorReport(m: MatchedTensor, r: ItemResult | undefined): TensorReport {
  const stats = r?.moments ? finalizeMoments(r.moments) : null;
  const notes = [m.note, r?.error ? `failed: ${r.error}` : null, ...(stats?.notes ?? [])].filter(Boolean);
  const hashA = r?.hashA ?? null;
  const hashB = r?.hashB ?? null;
  const sameLayout = !!m.a && !!m.b && m.a.dtype === m.b.dtype && m.a.shape.join() === m.b.shape.join();
  return {
    name: m.name,
    nameB: m.nameB,
    role: m.role,
    group: m.group,
    layer: m.layer,
    expert: m.expert,
    shape: m.a?.shape ?? null,
    shapeB: m.b?.shape ?? null,
    dtypeA: m.a?.dtype ?? null,
    dtypeB: m.b?.dtype ?? null,
    n: stats?.n ?? null,
    cosine: stats?.cosine ?? null,
    centeredCosine: stats?.centeredCosine ?? null,
    relL2: stats?.relL2 ?? null,
    mse: stats?.mse ?? null,
    maxAbsDiff: stats?.maxAbsDiff ?? null,
    identical: hashA && hashB ? sameLayout && hashA === hashB : null,
    hashA,
    hashB,
    nanA: stats?.nanA ?? 0,
    infA: stats?.infA ?? 0,
    nanB: stats?.nanB ?? 0,
    infB: stats?.infB ?? 0,
    note: notes.length ? notes.join('; ') : null,
  };
}

function pool(tensors: TensorReport[], moments: (Moments | null)[], keyOf: (t: TensorReport) => string | null): [string, PooledReport][] {
  const groups = new Map<string, number[]>();
  tensors.forEach((t, i) => {
    const key = keyOf(t);
    if (key === null || !moments[i]) return;
    const list = groups.get(key);
    if (list) list.push(i);
    else groups.set(key, [i]);
  });
  return [...groups].map(([key, indices]) => {
    let merged = emptyMoments();
    for (const i of indices) merged = mergeMoments(merged, moments[i]!);
    const pooled = finalizeMoments(merged);
    const cos = indices.map((i) => tensors[i]!.cosine).filter((x): x is number => x !== null);
    const ccos = indices.map((i) => tensors[i]!.centeredCosine).filter((x): x is number => x !== null);
    return [key, {
      tensors: indices.length,
      identical: indices.filter((i) => tensors[i]!.identical).length,
      n: pooled.n,
      cosine: pooled.cosine,
      centeredCosine: pooled.centeredCosine,
      relL2: pooled.relL2,
      meanCosine: mean(cos),
      minCosine: cos.length ? Math.min(...cos) : null,
      meanCenteredCosine: mean(ccos),
      minCenteredCosine: ccos.length ? Math.min(...ccos) : null,
    }];
  });
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
}
