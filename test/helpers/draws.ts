/** Seeded draws for tests that build weights by hand: uniform, normal, and heavy-tailed (Student t, 3 df). */
export function generator(seed: number): { u: () => number; normal: () => number; studentT3: () => number } {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const normal = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const studentT3 = () => normal() / Math.sqrt((normal() ** 2 + normal() ** 2 + normal() ** 2) / 3);
  return { u, normal, studentT3 };
}
