/**
 * Writes a Llama-family checkpoint (as loaded for our forward pass) as a GGUF file that llama.cpp
 * runs: F32 tensors under llama.cpp's names, the q/k rows put back in the interleaved RoPE order
 * llama.cpp's `llama` architecture expects (undoing the per-head permutation Hugging Face's
 * conversion applies), and a placeholder SentencePiece vocabulary of the model's size: the file is
 * for evaluating token ids, so that llama.cpp and our forward pass can be compared on the same
 * weights. Text cannot be tokenized with it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { LlamaWeights } from './llama-weights.ts';

const GGUF_MAGIC = 0x46554747; // "GGUF"
const GGUF_VERSION = 3;
const ALIGNMENT = 32;
enum ValueType { UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9 }
const GGML_TYPE_F32 = 0;
export const PLACEHOLDER_VOCABULARY = 'placeholder';

type Value =
  | { type: ValueType.UINT32 | ValueType.INT32 | ValueType.FLOAT32; value: number }
  | { type: ValueType.BOOL; value: boolean }
  | { type: ValueType.STRING; value: string }
  | { type: ValueType.ARRAY; of: ValueType.STRING; value: string[] }
  | { type: ValueType.ARRAY; of: ValueType.FLOAT32 | ValueType.INT32; value: number[] };

class ByteWriter {
  private chunks: Buffer[] = [];
  length = 0;
  private push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  u8(v: number): void { this.push(Buffer.from([v])); }
  str(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  pad(to: number): void { const n = (to - (this.length % to)) % to; if (n) this.push(Buffer.alloc(n)); }
  bytes(): Buffer { return Buffer.concat(this.chunks); }
  value(v: Value): void {
    this.u32(v.type);
    switch (v.type) {
      case ValueType.UINT32: this.u32(v.value); return;
      case ValueType.INT32: this.i32(v.value); return;
      case ValueType.FLOAT32: this.f32(v.value); return;
      case ValueType.BOOL: this.u8(v.value ? 1 : 0); return;
      case ValueType.STRING: this.str(v.value); return;
      case ValueType.ARRAY:
        this.u32(v.of);
        this.u64(v.value.length);
        for (const x of v.value) {
          if (v.of === ValueType.STRING) this.str(x as string);
          else if (v.of === ValueType.FLOAT32) this.f32(x as number);
          else this.i32(x as number);
        }
    }
  }
}

/** Hugging Face's rotate-half row order back to the interleaved order: old row 2i + c = new row c·(d/2) + i, per head. */
export function unpermuteRope(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let c = 0; c < 2; c++) {
        const from = (h * headDim + c * half + i) * cols;
        const to = (h * headDim + 2 * i + c) * cols;
        out.set(w.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}

/**
 * Placeholder pieces: <unk>, <s>, </s>, then the 256 byte pieces when they fit, then unique names.
 * A vocabulary too small for the bytes gets the newline byte piece (llama.cpp looks it up at load)
 * and the printable ASCII characters (text llama.cpp's binding tokenizes while loading must not
 * fall through to a missing byte piece).
 */
function placeholderVocab(size: number): { tokens: string[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [2, 3, 3];
  if (size >= 259) {
    for (let b = 0; b < 256; b++) {
      tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      types.push(6);
    }
  } else {
    tokens.push('<0x0A>', '\u2581');
    types.push(6, 1);
    for (let ch = 0x21; ch < 0x7f && tokens.length < size; ch++) {
      tokens.push(String.fromCharCode(ch));
      types.push(1);
    }
  }
  while (tokens.length < size) {
    tokens.push(`<t${tokens.length}>`);
    types.push(1);
  }
  return { tokens: tokens.slice(0, size), types: types.slice(0, size) };
}

export function writeGguf(file: string, w: LlamaWeights, name = 'lineage-export'): void {
  const c = w.config;
  const vocab = placeholderVocab(c.vocabSize);
  const u32 = (value: number): Value => ({ type: ValueType.UINT32, value });
  const meta: [string, Value][] = [
    ['general.architecture', { type: ValueType.STRING, value: 'llama' }],
    ['general.name', { type: ValueType.STRING, value: name }],
    ['general.alignment', u32(ALIGNMENT)],
    ['llama.context_length', u32(c.maxPositions)],
    ['llama.embedding_length', u32(c.hiddenSize)],
    ['llama.block_count', u32(c.layers)],
    ['llama.feed_forward_length', u32(c.intermediateSize)],
    ['llama.attention.head_count', u32(c.heads)],
    ['llama.attention.head_count_kv', u32(c.kvHeads)],
    ['llama.attention.key_length', u32(c.headDim)],
    ['llama.attention.value_length', u32(c.headDim)],
    ['llama.rope.dimension_count', u32(c.headDim)],
    ['llama.attention.layer_norm_rms_epsilon', { type: ValueType.FLOAT32, value: c.rmsNormEps }],
    ['llama.rope.freq_base', { type: ValueType.FLOAT32, value: c.ropeTheta }],
    ['llama.vocab_size', u32(c.vocabSize)],
    ['tokenizer.ggml.model', { type: ValueType.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: ValueType.ARRAY, of: ValueType.STRING, value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: ValueType.ARRAY, of: ValueType.FLOAT32, value: vocab.tokens.map(() => 0) }],
    ['tokenizer.ggml.token_type', { type: ValueType.ARRAY, of: ValueType.INT32, value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', u32(0)],
    ['tokenizer.ggml.bos_token_id', u32(c.bosTokenId ?? 1)],
    ['tokenizer.ggml.eos_token_id', u32(c.eosTokenIds[0] ?? 2)],
    // Read by LlamaCppModel: the vocabulary is a placeholder, so text must not be tokenized with it.
    ['lineage.vocabulary', { type: ValueType.STRING, value: PLACEHOLDER_VOCABULARY }],
    // Probes carry their own BOS: llama.cpp must not add one.
    ['tokenizer.ggml.add_bos_token', { type: ValueType.BOOL, value: false }],
  ];

  const tensors: { name: string; dims: number[]; data: Float32Array }[] = [];
  const h = c.hiddenSize;
  tensors.push({ name: 'token_embd.weight', dims: [h, c.vocabSize], data: w.embed });
  w.layers.forEach((L, i) => {
    const p = `blk.${i}.`;
    tensors.push(
      { name: `${p}attn_norm.weight`, dims: [h], data: L.inputNorm },
      { name: `${p}attn_q.weight`, dims: [h, c.heads * c.headDim], data: unpermuteRope(L.q, c.heads, c.headDim, h) },
      { name: `${p}attn_k.weight`, dims: [h, c.kvHeads * c.headDim], data: unpermuteRope(L.k, c.kvHeads, c.headDim, h) },
      { name: `${p}attn_v.weight`, dims: [h, c.kvHeads * c.headDim], data: L.v },
      { name: `${p}attn_output.weight`, dims: [c.heads * c.headDim, h], data: L.o },
      { name: `${p}ffn_norm.weight`, dims: [h], data: L.postNorm },
      { name: `${p}ffn_gate.weight`, dims: [h, c.intermediateSize], data: L.gate },
      { name: `${p}ffn_up.weight`, dims: [h, c.intermediateSize], data: L.up },
      { name: `${p}ffn_down.weight`, dims: [c.intermediateSize, h], data: L.down },
    );
  });
  tensors.push({ name: 'output_norm.weight', dims: [h], data: w.finalNorm });
  if (w.lmHead !== w.embed) tensors.push({ name: 'output.weight', dims: [h, c.vocabSize], data: w.lmHead });

  const head = new ByteWriter();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(meta.length);
  for (const [key, value] of meta) {
    head.str(key);
    head.value(value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    offset += t.data.length * 4;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  const infos = new ByteWriter();
  tensors.forEach((t, i) => {
    infos.str(t.name);
    infos.u32(t.dims.length);
    for (const d of t.dims) infos.u64(d);
    infos.u32(GGML_TYPE_F32);
    infos.u64(offsets[i]!);
  });
  const fd = openSync(file, 'w');
  try {
    let position = 0;
    const put = (b: Uint8Array) => {
      writeSync(fd, b, 0, b.length, position);
      position += b.length;
    };
    put(head.bytes());
    put(infos.bytes());
    put(Buffer.alloc((ALIGNMENT - (position % ALIGNMENT)) % ALIGNMENT));
    const dataStart = position;
    tensors.forEach((t, i) => {
      position = dataStart + offsets[i]!;
      put(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    });
    // Pad the file to the end of the last tensor's alignment.
    const end = dataStart + offset;
    if (position < end) put(Buffer.alloc(end - position));
  } finally {
    closeSync(fd);
  }
}
