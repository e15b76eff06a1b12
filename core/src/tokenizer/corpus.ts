/**
 * The built-in texts both tokenizers encode when no `--texts` file is given: English prose,
 * Korean, source code, numbers, mixed scripts and whitespace edge cases. Written for this project;
 * short enough to encode in milliseconds, varied enough that two tokenizers that are not the same
 * disagree somewhere.
 */

export type CorpusCategory = 'english' | 'korean' | 'code' | 'numbers' | 'mixed' | 'whitespace';

export interface CorpusText {
  category: CorpusCategory;
  text: string;
}

export const BUILTIN_CORPUS: readonly CorpusText[] = [
  { category: 'english', text: 'The quick brown fox jumps over the lazy dog.' },
  { category: 'english', text: 'Tokenizers are rarely retrained when a model is fine-tuned, which is why their vocabularies tell so much about a model\'s ancestry.' },
  { category: 'english', text: "I'm sure they'll say it's fine, but we've heard that before; you'd better check what's really there." },
  { category: 'english', text: 'In 1969, astronauts walked on the Moon for the first time, an achievement watched live by hundreds of millions of people.' },
  { category: 'english', text: 'Photosynthesis converts light energy into chemical energy, storing it in the bonds of glucose molecules.' },
  { category: 'english', text: 'UNBELIEVABLE!!! The committee RE-ELECTED the chairwoman, who promptly resigned... again?' },
  { category: 'english', text: 'Antidisestablishmentarianism, pneumonoultramicroscopicsilicovolcanoconiosis and floccinaucinihilipilification are long words.' },
  { category: 'english', text: 'She said: "Don\'t forget the milk, the eggs — and the bread!" (He forgot all three.)' },
  { category: 'korean', text: '안녕하세요. 오늘 날씨가 정말 좋네요.' },
  { category: 'korean', text: '대규모 언어 모델이 처음부터 학습되었는지, 아니면 다른 모델에서 파생되었는지 확인하는 방법을 설명합니다.' },
  { category: 'korean', text: '토크나이저는 미세 조정할 때 거의 다시 학습하지 않기 때문에 어휘 중복률이 중요한 단서가 됩니다.' },
  { category: 'korean', text: '서울특별시 강남구 테헤란로 123, 4층 (우편번호 06234)' },
  { category: 'korean', text: '그는 "괜찮아요!"라고 말했지만, 사실은 전혀 괜찮지 않았다.' },
  { category: 'korean', text: '햇살이 눈부신 봄날, 우리는 한강 공원에서 자전거를 타고 김밥을 먹었다.' },
  { category: 'code', text: 'def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n' },
  { category: 'code', text: 'for (let i = 0; i < items.length; i++) {\n\tconst item = items[i];\n\tif (!item?.enabled) continue;\n\tresult.push({ id: item.id, name: item.name.trim() });\n}' },
  { category: 'code', text: '#include <stdio.h>\n\nint main(void) {\n    printf("Hello, %s!\\n", "world");\n    return 0;\n}\n' },
  { category: 'code', text: 'SELECT u.id, COUNT(o.id) AS orders FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE u.created_at >= \'2024-01-01\' GROUP BY u.id HAVING COUNT(o.id) > 5;' },
  { category: 'code', text: '{"name": "lineage", "version": "0.1.0", "dependencies": {"hash-wasm": "^4.13.0"}, "private": true}' },
  { category: 'code', text: '<div class="card"><h2>Title</h2><p>Some <em>emphasised</em> text &amp; an <a href="https://example.com/path?q=1&r=2">anchor</a>.</p></div>' },
  { category: 'code', text: 'git log --oneline --graph --decorate | head -n 20 && echo "done" >> /tmp/log.txt 2>&1' },
  { category: 'code', text: 'fn main() {\n    let v: Vec<u64> = (1..=10).map(|x| x * x).collect();\n    println!("{:?}", v);\n}' },
  { category: 'numbers', text: '3.14159265358979323846264338327950288419716939937510' },
  { category: 'numbers', text: 'Invoice #000123: 12 items at $1,234.56 each = $14,814.72 (VAT 20%: $2,962.94).' },
  { category: 'numbers', text: '2024-03-15T08:30:00Z, 192.168.0.1:8080, +1 (555) 010-4477, 0x7fffffff, 1e-9' },
  { category: 'numbers', text: '1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890' },
  { category: 'numbers', text: '½ ¾ ² ³ ⅓ Ⅻ ١٢٣ ๑๒๓ 一二三 ① ② ③' },
  { category: 'mixed', text: '我想在apple工作1314151天～ 東京タワーは333メートルです。' },
  { category: 'mixed', text: 'Привет, мир! Γειά σου κόσμε! שלום עולם! مرحبا بالعالم!' },
  { category: 'mixed', text: 'Emoji: 🚀🦙😀 👩‍👩‍👧‍👦 🇰🇷 ✅ ❤️ and kaomoji (╯°□°)╯︵ ┻━┻' },
  { category: 'mixed', text: 'Cửa Việt, Äpfel, naïve café, façade, Øresund, Straße, İstanbul, ǅemal' },
  { category: 'mixed', text: 'LLM 학습에는 GPU 수천 장과 약 15T 토큰의 데이터가 필요하다 (6·N·D FLOPs).' },
  { category: 'mixed', text: 'हिन्दी भाषा, ภาษาไทย, ქართული ენა, Հայերեն, ᐃᓄᒃᑎᑐᑦ, ⠓⠑⠇⠇⠕' },
  { category: 'mixed', text: 'Math: ∀x∈ℝ, x² ≥ 0; ∑_{i=1}^{n} i = n(n+1)/2; e^{iπ} + 1 = 0; √2 ≈ 1.41421' },
  { category: 'whitespace', text: '   leading spaces, trailing spaces   ' },
  { category: 'whitespace', text: 'line one\nline two\r\nline three\n\n\nafter blank lines\t\ttabs' },
  { category: 'whitespace', text: '\n \n\n \t \t\t \t\n  \n   \n    \n' },
  { category: 'whitespace', text: 'non\u00a0breaking\u2009thin\u3000ideographic\u200bzero-width' },
];
