/**
 * The language model's layers under the prefixes real checkpoints use (roles/roles.ts LM_PREFIX):
 * multimodal wrappers and whole-model wrappers are read as the language model, so its attention
 * and MLP are compared; a vision tower under its own prefix stays a stack of its own.
 */
import test from 'ava';
import { classifyTensor } from '../core/src/roles/roles.ts';

test('the language model is found under multimodal and whole-model wrappers', (t) => {
  for (const prefix of ['model', 'language_model.model', 'model.language_model', 'model.text_model', 'llm.model', 'thinker.model', 'model.model', 'base_model.model.model']) {
    const q = classifyTensor(`${prefix}.layers.4.self_attn.q_proj.weight`);
    t.deepEqual([q.role, q.layer], ['attn.q', 4], prefix);
    const down = classifyTensor(`${prefix}.layers.2.mlp.experts.5.down_proj.weight`);
    t.deepEqual([down.role, down.layer, down.expert], ['expert.down', 2, 5], prefix);
  }
});

test('a second stack keeps its own namespace: a vision tower\'s layer 3 is never the language model\'s', (t) => {
  for (const name of ['model.visual.blocks.3.attn.qkv.weight', 'vision_tower.vision_model.encoder.layers.3.self_attn.q_proj.weight', 'model.vision_model.encoder.layers.3.mlp.fc1.weight', 'audio_tower.layers.3.self_attn.q_proj.weight']) {
    const r = classifyTensor(name);
    t.is(r.group, 'other', name);
    t.regex(r.role, /^other:/, name);
  }
});
