/**
 * Tensor roles from names. Checkpoints of different families name the same thing differently
 * (q_proj / wq / attn_q, w1 / gate_proj): pairs are matched by (role, layer, expert), not by
 * name, so a renamed derivative is still compared tensor for tensor.
 */

export type RoleGroup = 'embedding' | 'lm_head' | 'attention' | 'norm' | 'mlp' | 'router' | 'shared_expert' | 'routed_expert' | 'quant' | 'other';

export interface TensorRole {
  /** e.g. `attn.q`, `norm.input`, `expert.down`, `router.weight`, `embedding`; `.bias` appended for biases. */
  role: string;
  group: RoleGroup;
  layer: number | null;
  expert: number | null;
  /** Weights of all experts in one tensor (expert index in the first dimension). */
  fusedExperts: boolean;
}

const LAYER = /(?:^|\.)(?:layers|h|blocks|blk|layer)\.(\d+)\./;
const EXPERT = /\.experts\.(\d+)\./;
/**
 * Prefixes under which the language model's own layers sit: the plain ones, multimodal wrappers
 * (LLaVA and Gemma-3 `language_model.model`, Idefics3 and SmolVLM `model.text_model`, MiniCPM-V
 * `llm.model`, Qwen2.5-Omni `thinker.model`) and whole-model wrappers (PEFT's
 * `base_model.model.model`, a doubly wrapped `model.model`). Under any other prefix a stack is a
 * second one (vision tower, encoder) and keeps its own namespace.
 */
const LM_PREFIX = /^(?:model|transformer|gpt_neox|backbone|language_model|model\.language_model|language_model\.model|model\.decoder|decoder|model\.text_model|text_model|llm|llm\.model|thinker\.model|model\.model|base_model\.model\.model|base_model\.model)?$/;

/** Per-layer parts, matched against what follows the layer (and expert) index. First match wins. */
const LAYER_RULES: [RegExp, string][] = [
  [/(?:^|\.)(?:q_a_layernorm)$/, 'norm.q_a'],
  [/(?:^|\.)(?:kv_a_layernorm)$/, 'norm.kv_a'],
  [/(?:^|\.)(?:q_norm|q_layernorm|attn_q_norm)$/, 'norm.q'],
  [/(?:^|\.)(?:k_norm|k_layernorm|attn_k_norm)$/, 'norm.k'],
  [/(?:^|\.)(?:input_layernorm|attention_norm|ln_1|attn_norm|ln_attn)$/, 'norm.input'],
  [/(?:^|\.)(?:pre_feedforward_layernorm)$/, 'norm.pre_ffn'],
  [/(?:^|\.)(?:post_feedforward_layernorm|ffn_post_norm)$/, 'norm.post_ffn'],
  [/(?:^|\.)(?:post_attention_layernorm|ffn_norm|ln_2|ln_mlp)$/, 'norm.post_attn'],
  [/(?:^|\.)(?:q_a_proj|attn_q_a)$/, 'attn.q_a'],
  [/(?:^|\.)(?:q_b_proj|attn_q_b)$/, 'attn.q_b'],
  [/(?:^|\.)(?:kv_a_proj_with_mqa|attn_kv_a_mqa)$/, 'attn.kv_a'],
  [/(?:^|\.)(?:kv_b_proj|attn_kv_b)$/, 'attn.kv_b'],
  [/(?:^|\.)(?:qkv_proj|query_key_value|W_pack|c_attn|attn_qkv|Wqkv)$/, 'attn.qkv'],
  [/(?:^|\.)(?:q_proj|wq|attn_q)$/, 'attn.q'],
  [/(?:^|\.)(?:k_proj|wk|attn_k)$/, 'attn.k'],
  [/(?:^|\.)(?:v_proj|wv|attn_v)$/, 'attn.v'],
  [/(?:^|\.)attn\.c_proj$/, 'attn.o'],
  [/(?:^|\.)(?:o_proj|wo|attn_output|out_proj|attention\.dense|c_proj_attn)$/, 'attn.o'],
  [/(?:^|\.)(?:shared_experts?|shexp)\.(?:gate_proj|w1)$|ffn_gate_shexp$/, 'shared.gate'],
  [/(?:^|\.)(?:shared_experts?|shexp)\.(?:up_proj|w3)$|ffn_up_shexp$/, 'shared.up'],
  [/(?:^|\.)(?:shared_experts?|shexp)\.(?:down_proj|w2)$|ffn_down_shexp$/, 'shared.down'],
  [/(?:^|\.)shared_expert_gate$|ffn_gate_inp_shexp$/, 'shared.router'],
  [/(?:^|\.)(?:e_score_correction_bias|exp_probs_b)$/, 'router.bias'],
  [/(?:^|\.)(?:mlp\.gate|block_sparse_moe\.gate|moe\.gate|router|mlp\.router|ffn_gate_inp)$/, 'router.weight'],
  [/(?:^|\.)(?:experts\.gate_up_proj)$/, 'expert.gate_up'],
  [/(?:^|\.)(?:experts\.gate_proj|ffn_gate_exps)$/, 'expert.gate'],
  [/(?:^|\.)(?:experts\.up_proj|ffn_up_exps)$/, 'expert.up'],
  [/(?:^|\.)(?:experts\.down_proj|ffn_down_exps)$/, 'expert.down'],
  [/(?:^|\.)(?:gate_up_proj)$/, 'mlp.gate_up'],
  [/(?:^|\.)(?:gate_proj|w1|ffn_gate)$/, 'mlp.gate'],
  [/(?:^|\.)(?:up_proj|w3|ffn_up|c_fc|fc1|dense_h_to_4h)$/, 'mlp.up'],
  [/(?:^|\.)(?:down_proj|w2|ffn_down|c_proj|fc2|dense_4h_to_h)$/, 'mlp.down'],
];

const TOP_RULES: [RegExp, string, RoleGroup][] = [
  [/(?:^|\.)(?:embed_tokens|wte|tok_embeddings|word_embeddings|token_embd|embeddings)$/, 'embedding', 'embedding'],
  [/^(?:lm_head|output|embed_out)$|\.lm_head$/, 'lm_head', 'lm_head'],
  [/(?:^|\.)(?:norm|ln_f|final_layernorm|output_norm|final_layer_norm)$/, 'norm.final', 'norm'],
];

function groupOf(role: string, inExpert: boolean): RoleGroup {
  if (inExpert || role.startsWith('expert.')) return 'routed_expert';
  if (role.startsWith('shared.')) return 'shared_expert';
  if (role.startsWith('router.')) return 'router';
  if (role.startsWith('norm.')) return 'norm';
  if (role.startsWith('attn.')) return 'attention';
  if (role.startsWith('mlp.')) return 'mlp';
  return 'other';
}

/**
 * Roles by name, remembered: the matcher, the planner and every control task classify the same
 * tens of thousands of names (a 100B MoE lists ~19k tensors a side), and the regular expressions
 * cost ~5 µs a name. Callers must not mutate the returned object.
 */
const known = new Map<string, Readonly<TensorRole>>();
const MAX_KNOWN = 1 << 19;

export function classifyTensor(name: string): TensorRole {
  let role = known.get(name);
  if (!role) {
    if (known.size >= MAX_KNOWN) known.clear();
    known.set(name, (role = Object.freeze(classifyName(name))));
  }
  return role;
}

/**
 * The roles of a list of names in a compact form another thread can take (rememberRoles), so that
 * a pool thread handed a 19k-tensor checkpoint does not classify every name again (~0.1 s a thread
 * on a 48 x 128 MoE): each distinct (role, group, fusedExperts) once, layer and expert per name.
 */
export interface PackedRoles {
  kinds: { role: string; group: RoleGroup; fusedExperts: boolean }[];
  /** Per name: its index in `kinds`, its layer and its expert (−1 for none). */
  kind: Int32Array;
  layer: Int32Array;
  expert: Int32Array;
}

export function packRoles(names: readonly string[]): PackedRoles {
  const kinds: PackedRoles['kinds'] = [];
  const kindAt = new Map<string, number>();
  const packed: PackedRoles = { kinds, kind: new Int32Array(names.length), layer: new Int32Array(names.length), expert: new Int32Array(names.length) };
  names.forEach((name, i) => {
    const r = classifyTensor(name);
    const key = `${r.role}\u0000${r.group}\u0000${r.fusedExperts}`;
    let k = kindAt.get(key);
    if (k === undefined) {
      kindAt.set(key, (k = kinds.length));
      kinds.push({ role: r.role, group: r.group, fusedExperts: r.fusedExperts });
    }
    packed.kind[i] = k;
    packed.layer[i] = r.layer ?? -1;
    packed.expert[i] = r.expert ?? -1;
  });
  return packed;
}

/** Takes the roles packRoles gave for the same list of names (in process, from the thread that classified them). */
export function rememberRoles(names: readonly string[], packed: PackedRoles): void {
  if (packed.kind.length !== names.length) return;
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    if (known.has(name)) continue;
    const k = packed.kinds[packed.kind[i]!];
    if (!k) continue;
    if (known.size >= MAX_KNOWN) known.clear();
    const layer = packed.layer[i]!;
    const expert = packed.expert[i]!;
    // The same fields in the same order as classifyName's.
    known.set(name, Object.freeze({ role: k.role, group: k.group, layer: layer < 0 ? null : layer, expert: expert < 0 ? null : expert, fusedExperts: k.fusedExperts }));
  }
}

function classifyName(name: string): TensorRole {
  const layerMatch = LAYER.exec(name);
  const layer = layerMatch ? Number(layerMatch[1]) : null;
  const expertMatch = EXPERT.exec(name);
  const expert = expertMatch ? Number(expertMatch[1]) : null;
  const suffixMatch = /\.(weight|bias|weight_scale_inv|scale)$/.exec(name);
  const kind = suffixMatch?.[1] ?? 'weight';
  let stem = suffixMatch ? name.slice(0, -suffixMatch[0].length) : name;
  if (kind === 'weight_scale_inv' || kind === 'scale') {
    return { role: 'quant.scale', group: 'quant', layer, expert, fusedExperts: false };
  }
  const biasSuffix = kind === 'bias' ? '.bias' : '';

  if (layer !== null) {
    // A second stack (vision tower, MTP head, encoder) gets its own namespace so that its layer 3
    // is never paired with the language model's layer 3.
    const scope = stem.slice(0, layerMatch!.index).replace(LM_PREFIX, '');
    if (scope !== '') {
      return { role: `other:${scope}.${stem.slice(layerMatch!.index + layerMatch![0].length)}${biasSuffix}`, group: 'other', layer, expert, fusedExperts: false };
    }
    // What follows the layer (and expert) index: `self_attn.q_proj`, `experts.7.w1` -> `w1`.
    stem = stem.slice(layerMatch!.index + layerMatch![0].length);
    if (expertMatch) stem = stem.slice(stem.indexOf(`experts.${expert}.`) + `experts.${expert}.`.length);
    const role = layerRule(stem);
    if (role === null) return { role: `other:${stem}${biasSuffix}`, group: 'other', layer, expert, fusedExperts: false };
    const inExpert = expert !== null;
    const base = inExpert ? role.replace(/^mlp\./, 'expert.') : role;
    const fused = !inExpert && base.startsWith('expert.');
    return { role: base + biasSuffix, group: groupOf(base, inExpert), layer, expert, fusedExperts: fused };
  }
  for (const [pattern, role, group] of TOP_RULES) {
    if (pattern.test(stem)) return { role: role + biasSuffix, group, layer: null, expert: null, fusedExperts: false };
  }
  return { role: `other:${stem.replace(/^model\./, '')}${biasSuffix}`, group: 'other', layer: null, expert: null, fusedExperts: false };
}

/**
 * The first of LAYER_RULES that matches a stem (what follows the layer and expert index), by stem:
 * a checkpoint's tens of thousands of names have a few dozen stems, and the rules are most of a
 * name's cost. Null where none matches.
 */
const ruleByStem = new Map<string, string | null>();

function layerRule(stem: string): string | null {
  let role = ruleByStem.get(stem);
  if (role === undefined) {
    if (ruleByStem.size >= MAX_KNOWN) ruleByStem.clear();
    role = LAYER_RULES.find(([pattern]) => pattern.test(stem))?.[1] ?? null;
    ruleByStem.set(stem, role);
  }
  return role;
}

/** The key pairs are matched by. */
export function roleKey(r: TensorRole): string {
  return `${r.role}|${r.layer ?? '-'}|${r.expert ?? '-'}`;
}
