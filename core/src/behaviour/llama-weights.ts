/**
 * A Llama-family checkpoint's tensors as float32, read through the project's checkpoint reader
 * (headers checked against the file) and checked against the config's shapes. The whole model is
 * held in memory, so the reader refuses a model above a byte limit before reading anything.
 */
import { elementCount, type DType } from '../checkpoint/dtype.ts';
import { openCheckpoint, type TensorEntry } from '../checkpoint/folder.ts';
import { BadInputError, LineageError } from '../errors.ts';
import { PreadReader } from '../io/pread.ts';
import { toFloat32 } from '../kernels/decode.ts';
import { parseLlamaConfig, type LlamaConfig } from './llama-config.ts';

export interface LayerWeights {
  inputNorm: Float32Array;
  q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array;
  qBias: Float32Array | null; kBias: Float32Array | null; vBias: Float32Array | null;
  /** Per-head RMSNorm of queries and keys (Qwen3), null elsewhere. */
  qNorm: Float32Array | null; kNorm: Float32Array | null;
  postNorm: Float32Array;
  gate: Float32Array; up: Float32Array; down: Float32Array;
}

export interface LlamaWeights {
  config: LlamaConfig;
  embed: Float32Array;
  layers: LayerWeights[];
  finalNorm: Float32Array;
  /** The output projection: lm_head, or the embedding when tied. */
  lmHead: Float32Array;
  /** Dtypes of the stored tensors (the forward pass itself runs in float32). */
  dtypes: string[];
}

const FORWARD_DTYPES: ReadonlySet<string> = new Set(['F32', 'BF16', 'F16']);

/** Models above this many float32 bytes are refused: the forward pass holds every weight. */
export const DEFAULT_MAX_MODEL_BYTES = 2 * 1024 ** 3;

export function loadLlamaWeights(folder: string, options: { maxBytes?: number } = {}): LlamaWeights {
  const ck = openCheckpoint(folder);
  const config = parseLlamaConfig(ck.config, `${ck.root}/config.json`);
  const { hiddenSize: h, intermediateSize: inter, heads, kvHeads, headDim: hd, vocabSize: vocab } = config;
  const byName = new Map(ck.tensors.map((t) => [t.name, t]));
  const hasLmHead = byName.has('lm_head.weight');
  const floatBytes = ck.tensors.reduce((s, t) => s + elementCount(t.shape) * 4, 0);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  if (floatBytes > maxBytes) {
    throw new LineageError('UNSUPPORTED', `${ck.root}: the model needs ${size(floatBytes)} as float32, above the in-memory forward pass's limit of ${size(maxBytes)}`);
  }
  const reader = new PreadReader();
  const dtypes = new Set<string>();
  try {
    const read = (name: string, shape: number[], optional = false): Float32Array | null => {
      const t = byName.get(name);
      if (!t) {
        if (optional) return null;
        throw new BadInputError(ck.root, `tensor '${name}' is missing (the forward pass needs it)`);
      }
      checkShape(t, shape);
      dtypes.add(t.dtype);
      return readFloat32(reader, t);
    };
    const need = (name: string, shape: number[]) => read(name, shape)!;
    const layers: LayerWeights[] = [];
    for (let i = 0; i < config.layers; i++) {
      const p = `model.layers.${i}.`;
      layers.push({
        inputNorm: need(`${p}input_layernorm.weight`, [h]),
        q: need(`${p}self_attn.q_proj.weight`, [heads * hd, h]),
        k: need(`${p}self_attn.k_proj.weight`, [kvHeads * hd, h]),
        v: need(`${p}self_attn.v_proj.weight`, [kvHeads * hd, h]),
        o: need(`${p}self_attn.o_proj.weight`, [h, heads * hd]),
        qBias: read(`${p}self_attn.q_proj.bias`, [heads * hd], true),
        kBias: read(`${p}self_attn.k_proj.bias`, [kvHeads * hd], true),
        vBias: read(`${p}self_attn.v_proj.bias`, [kvHeads * hd], true),
        qNorm: read(`${p}self_attn.q_norm.weight`, [hd], true),
        kNorm: read(`${p}self_attn.k_norm.weight`, [hd], true),
        postNorm: need(`${p}post_attention_layernorm.weight`, [h]),
        gate: need(`${p}mlp.gate_proj.weight`, [inter, h]),
        up: need(`${p}mlp.up_proj.weight`, [inter, h]),
        down: need(`${p}mlp.down_proj.weight`, [h, inter]),
      });
    }
    const embed = need('model.embed_tokens.weight', [vocab, h]);
    const finalNorm = need('model.norm.weight', [h]);
    // A config that says "tied" while a separate lm_head is stored: the stored one is what runs.
    const lmHead = hasLmHead ? need('lm_head.weight', [vocab, h]) : embed;
    if (!hasLmHead && !config.tieWordEmbeddings && ck.config?.tie_word_embeddings === false) {
      throw new BadInputError(ck.root, 'tie_word_embeddings is false but no lm_head.weight is stored');
    }
    return { config, embed, layers, finalNorm, lmHead, dtypes: [...dtypes].sort() };
  } finally {
    reader.close();
  }
}

function checkShape(t: TensorEntry, shape: number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new BadInputError(t.file, `tensor '${t.name}' has shape ${JSON.stringify(t.shape)}, but config.json implies ${JSON.stringify(shape)}`);
  }
  // FP8 weights need their block scales, which this reader does not attach: refused, not misread.
  if (!FORWARD_DTYPES.has(t.dtype)) {
    throw new BadInputError(t.file, `tensor '${t.name}' has dtype ${t.dtype}, which the forward pass does not decode (it reads F32, BF16, F16)`);
  }
}

function readFloat32(reader: PreadReader, t: TensorEntry): Float32Array {
  const count = elementCount(t.shape);
  const raw = new Uint8Array(t.byteLength);
  reader.readSync(t.file, t.offset, raw);
  const out = new Float32Array(count);
  toFloat32(t.dtype as DType, raw, out, count);
  return out;
}


const size = (bytes: number) => (bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`);
