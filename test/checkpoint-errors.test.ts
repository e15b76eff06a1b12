import test from 'ava';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../core/src/checkpoint/folder.ts';
import { BadInputError } from '../core/src/errors.ts';
import { tempDir } from './helpers/tmpdir.ts';
import { f32Bytes, writeSafetensorsFile, type RawTensor } from './helpers/safetensors-file.ts';

const good: RawTensor[] = [
  { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [2, 2], data: f32Bytes([1, 2, 3, 4]) },
  { name: 'model.norm.weight', dtype: 'F32', shape: [2], data: f32Bytes([1, 1]) },
];

function folder(build: (dir: string) => void): string {
  const dir = join(tempDir(), 'model');
  mkdirSync(dir);
  build(dir);
  return dir;
}

function rejects(t: import('ava').ExecutionContext, dir: string, file: RegExp, reason: RegExp): void {
  const err = t.throws(() => openCheckpoint(dir), { instanceOf: BadInputError });
  t.regex(err!.file, file);
  t.regex(err!.reason, reason);
}

test('a good folder opens, with absolute offsets', (t) => {
  const dir = folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), good));
  const ck = openCheckpoint(dir);
  t.is(ck.tensors.length, 2);
  t.is(ck.totalBytes, 24);
  t.is(ck.config, null);
});

test('missing folder', (t) => rejects(t, '/nonexistent/model', /nonexistent/, /no such folder/));
test('folder without weights', (t) => rejects(t, folder(() => {}), /model$/, /no weights/));

test('truncated shard: offsets run past the end', (t) => {
  const dir = folder((d) => {
    writeSafetensorsFile(join(d, 'model.safetensors'), good);
    truncateSync(join(d, 'model.safetensors'), 8 + 100);
  });
  rejects(t, dir, /model\.safetensors$/, /past the end of the file|truncated|exceeds the file/);
});

test('file shorter than the header length field', (t) => {
  rejects(t, folder((d) => writeFileSync(join(d, 'model.safetensors'), Buffer.from([1, 2, 3]))), /model\.safetensors$/, /truncated: 3 bytes/);
});

test('header length beyond the file', (t) => {
  rejects(t, folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), good, { headerLengthOverride: 1n << 40n })), /model\.safetensors$/, /header length \d+ exceeds the file/);
});

test('header that is not JSON', (t) => {
  rejects(t, folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), good, { rawHeader: '{"a": [1, 2' })), /model\.safetensors$/, /not valid JSON/);
});

test('offsets outside the file', (t) => {
  const lying = [{ ...good[0]!, offsets: [0, 4000] as [number, number] }];
  rejects(t, folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), lying)), /model\.safetensors$/, /run past the end/);
});

test('overlapping tensors', (t) => {
  const overlapping: RawTensor[] = [
    { name: 'a.weight', dtype: 'F32', shape: [2], data: f32Bytes([1, 2]), offsets: [0, 8] },
    { name: 'b.weight', dtype: 'F32', shape: [2], data: f32Bytes([3, 4]), offsets: [4, 12] },
  ];
  rejects(t, folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), overlapping)), /model\.safetensors$/, /overlap/);
});

test('dtype × shape not matching the byte length', (t) => {
  const wrong = [{ ...good[0]!, shape: [3, 2] }];
  rejects(t, folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), wrong)), /model\.safetensors$/, /F32 \[3,2\] needs 24 bytes but data_offsets span 16/);
});

test('unknown dtype is a per-tensor note, not a failure', (t) => {
  const odd = [...good, { name: 'x.weight', dtype: 'F4_WEIRD', shape: [2], data: new Uint8Array(1) }];
  const ck = openCheckpoint(folder((d) => writeSafetensorsFile(join(d, 'model.safetensors'), odd)));
  t.regex(ck.tensors.find((x) => x.name === 'x.weight')!.note!, /unknown dtype 'F4_WEIRD'/);
});

test('index naming a missing shard', (t) => {
  const dir = folder((d) => {
    writeSafetensorsFile(join(d, 'model-00001-of-00002.safetensors'), good);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'lm_head.weight': 'model-00002-of-00002.safetensors' } }));
  });
  rejects(t, dir, /model\.safetensors\.index\.json$/, /names shard 'model-00002-of-00002\.safetensors', which is missing/);
});

test('index listing a tensor no shard holds', (t) => {
  const dir = folder((d) => {
    writeSafetensorsFile(join(d, 'model-00001-of-00001.safetensors'), good);
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'lm_head.weight': 'model-00001-of-00001.safetensors' } }));
  });
  rejects(t, dir, /index\.json$/, /lists tensor 'lm_head\.weight'/);
});

test('invalid config.json', (t) => {
  const dir = folder((d) => {
    writeSafetensorsFile(join(d, 'model.safetensors'), good);
    writeFileSync(join(d, 'config.json'), '{ not json');
  });
  rejects(t, dir, /config\.json$/, /not valid JSON/);
});
