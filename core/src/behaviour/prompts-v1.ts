/**
 * The fixed text probe set, version 1: short prompts in English, Korean, code, math and short
 * facts, each of which a language model continues with a fairly predictable next token. Written
 * for this project. Never edit a prompt in place: add a new version, so that cached answers and
 * published figures keep meaning what they meant.
 */
export const PROMPT_SET_VERSION = 'lineage-prompts-v1';

export type PromptCategory = 'english' | 'korean' | 'code' | 'math' | 'facts';

export const PROMPTS_V1: readonly { category: PromptCategory; text: string }[] = [
  { category: 'english', text: 'Once upon a time, there was a little' },
  { category: 'english', text: 'The sun was shining and the birds were' },
  { category: 'english', text: 'She opened the door and saw a big' },
  { category: 'english', text: 'Tom and his mom went to the' },
  { category: 'english', text: 'After dinner, the children liked to' },
  { category: 'english', text: 'It was a cold winter morning, and the snow' },
  { category: 'english', text: 'He was very happy because he' },
  { category: 'english', text: 'The old man sat on the bench and' },
  { category: 'english', text: 'Thank you very much for your' },
  { category: 'english', text: 'In the middle of the night, she heard a' },
  { category: 'korean', text: '옛날 옛적에 작은 마을에' },
  { category: 'korean', text: '오늘 날씨가 정말' },
  { category: 'korean', text: '대한민국의 수도는' },
  { category: 'korean', text: '저는 학교에 가서 친구들과' },
  { category: 'korean', text: '감사합니다. 좋은 하루' },
  { category: 'korean', text: '한국어는 세종대왕이' },
  { category: 'code', text: 'def add(a, b):\n    return' },
  { category: 'code', text: 'for (let i = 0; i <' },
  { category: 'code', text: 'import numpy as' },
  { category: 'code', text: '#include <stdio.h>\n\nint' },
  { category: 'code', text: 'SELECT * FROM users WHERE' },
  { category: 'code', text: 'console.log("Hello,' },
  { category: 'code', text: 'if __name__ == "__main__' },
  { category: 'code', text: '<html>\n<head>\n<title>' },
  { category: 'math', text: '2 + 2 =' },
  { category: 'math', text: '1, 2, 3, 4, 5,' },
  { category: 'math', text: 'The square root of 81 is' },
  { category: 'math', text: '10 times 10 equals' },
  { category: 'math', text: 'x^2 - 1 = (x - 1)(x' },
  { category: 'math', text: 'Half of 50 is' },
  { category: 'math', text: '3.14159' },
  { category: 'facts', text: 'The capital of France is' },
  { category: 'facts', text: 'Water freezes at zero degrees' },
  { category: 'facts', text: 'The largest planet in the solar system is' },
  { category: 'facts', text: 'A week has seven' },
  { category: 'facts', text: 'The chemical symbol for gold is' },
  { category: 'facts', text: 'Monday, Tuesday, Wednesday,' },
  { category: 'facts', text: 'January, February, March,' },
  { category: 'facts', text: 'The opposite of hot is' },
  { category: 'facts', text: 'Cats and dogs are popular' },
];
