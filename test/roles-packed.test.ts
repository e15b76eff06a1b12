/**
 * Roles handed to another thread (core/src/roles/roles.ts packRoles / rememberRoles): a pool thread
 * given a packed checkpoint takes its tensors' roles from the thread that classified them instead
 * of classifying ~19k names again. What it remembers must be what it would have classified.
 */
import test from 'ava';
import { classifyTensor, packRoles, type PackedRoles, type TensorRole } from '../core/src/roles/roles.ts';

/** Names from several families: dense, MoE per-expert and fused, FP8 scales, biases, a vision tower, top-level tensors. */
const NAMES = [
  'model.embed_tokens.weight', 'lm_head.weight', 'model.norm.weight',
  'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.q_proj.bias', 'model.layers.0.input_layernorm.weight',
  'model.layers.3.mlp.experts.7.gate_proj.weight', 'model.layers.3.mlp.experts.7.down_proj.weight_scale_inv',
  'model.layers.3.mlp.gate.weight', 'model.layers.3.mlp.shared_experts.up_proj.weight',
  'model.layers.5.mlp.experts.gate_up_proj', 'transformer.h.2.attn.c_attn.weight', 'transformer.wte.weight',
  'model.visual.blocks.1.attn.qkv.weight', 'model.layers.1.block_sparse_moe.experts.0.w1.weight', 'something.else',
];

/** A module instance of roles.ts of its own (an empty memo), as a fresh thread has. */
async function freshRoles(tag: string): Promise<typeof import('../core/src/roles/roles.ts')> {
  return import(`../core/src/roles/roles.ts?fresh=${tag}`) as Promise<typeof import('../core/src/roles/roles.ts')>;
}

test('remembered roles are the classified ones, field for field and in the same key order', async (t) => {
  const packed = packRoles(NAMES);
  t.true(packed.kinds.length < NAMES.length, 'each distinct role once');
  const fresh = await freshRoles('same');
  fresh.rememberRoles(NAMES, structuredClone(packed));
  for (const name of NAMES) {
    const expected: TensorRole = classifyTensor(name);
    const got = fresh.classifyTensor(name);
    t.deepEqual(got, expected, name);
    t.is(JSON.stringify(got), JSON.stringify(expected), `${name}: same JSON`);
    t.true(Object.isFrozen(got));
  }
});

test('the memo is taken, not recomputed, and a pack for another list of names is ignored', async (t) => {
  const packed: PackedRoles = structuredClone(packRoles(NAMES));
  const at = NAMES.indexOf('model.layers.0.self_attn.q_proj.weight');
  packed.kinds = packed.kinds.map((k, i) => (i === packed.kind[at] ? { ...k, role: 'marked' } : k));
  const fresh = await freshRoles('marked');
  fresh.rememberRoles(NAMES, packed);
  t.is(fresh.classifyTensor(NAMES[at]!).role, 'marked', 'the remembered role is what classifyTensor gives');
  const other = await freshRoles('other');
  other.rememberRoles(NAMES.slice(1), packed);
  t.is(other.classifyTensor(NAMES[at]!).role, 'attn.q', 'a pack of another length is not taken: names are classified');
});
