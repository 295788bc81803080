// A seeded pseudo-random generator for tests that draw many inputs (metric
// series, hostile-input fuzzing): the same seed gives the same inputs, so a
// failure names its seed and can be replayed exactly. No dependency.

/** Numbers in [0, 1) from a 32-bit linear congruential generator. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) % 2 ** 32;
    return seed / 2 ** 32;
  };
}

/** Drawing helpers over rng(seed). */
export function generator(seed: number) {
  const next = rng(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)]!;
  return {
    next,
    int,
    pick,
    chance: (p: number) => next() < p,
    /** `count` items drawn from `make`, joined. */
    join: (count: number, make: () => string, sep = "") => Array.from({ length: count }, make).join(sep),
  };
}
export type Generator = ReturnType<typeof generator>;
