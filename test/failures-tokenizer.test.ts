/** Added tokens with regex-significant characters: '-' broke every encoding (a `u`-flag regex rejects `\-`). */
import test from 'ava';
import { AddedTokenSplitter } from '../core/src/tokenizer/encode.ts';
import { escapeRegex } from '../core/src/tokenizer/regex.ts';

const token = (id: number, content: string) => ({ id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false });

test('added tokens containing -, /, |, brackets and dots split the text where they stand', (t) => {
  const splitter = new AddedTokenSplitter([token(1, '<|im-start|>'), token(2, '[/INST]'), token(3, 'a.b-c'), token(4, '-')]);
  t.deepEqual(splitter.split('<|im-start|>user x-y [/INST] a.b-c axbyc'), [
    { id: 1 }, { text: 'user x' }, { id: 4 }, { text: 'y ' }, { id: 2 }, { text: ' ' }, { id: 3 }, { text: ' axbyc' },
  ]);
});

test('escapeRegex gives a pattern the u flag accepts, matching the text literally', (t) => {
  for (const text of ['a-b', '-', '[a-z]', '(x|y)*', 'end$^', '\\d', '{1,2}?', 'a/b', '.+']) {
    const re = new RegExp(`^${escapeRegex(text)}$`, 'u');
    t.true(re.test(text), text);
  }
});
