/**
 * A small seeded PRNG (mulberry32) for everything in a simulation that would otherwise call
 * Math.random (the profile executor's `when` polling jitter, OD reading's occasional
 * `relative_intensity_of_ir_led`): with the same seed a simulated run is the same run.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stable 32-bit seed from a run seed and a name (each unit gets its own culture noise). */
export function deriveSeed(seed: number, name: string): number {
  let h = (2166136261 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}
