/**
 * A small seedable PRNG whose whole state is two numbers, so a simulated bioreactor can be saved
 * to a file and resumed by another process without changing the noise it would have produced.
 * Math.random is never used: same seed and same sequence of reads give identical readings.
 */

export interface RandomState {
  /** mulberry32 counter (uint32). */
  s: number;
  /** Box–Muller produces normals in pairs; the unused one is kept here. */
  spare: number | null;
}

export class Random {
  private s: number;
  /**
   * Box–Muller's unused normal, valid while `hasSpare`. A plain number rather than `number | null`:
   * V8 keeps a number-only field's double in place, while a field that also holds null boxes
   * every double stored into it (half of all draws).
   */
  private spare = 0;
  private hasSpare = false;

  constructor(seedOrState: number | RandomState) {
    if (typeof seedOrState === "number") {
      if (!Number.isFinite(seedOrState)) throw new RangeError(`seed must be a finite number, got ${seedOrState}`);
      // Mix the seed so nearby seeds (1, 2, 3…) start far apart.
      this.s = Math.imul((seedOrState >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
    } else {
      this.s = seedOrState.s >>> 0;
      if (seedOrState.spare !== null) {
        this.spare = seedOrState.spare;
        this.hasSpare = true;
      }
    }
  }

  /** Uniform in [0, 1) (mulberry32). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }

  state(): RandomState {
    return { s: this.s, spare: this.hasSpare ? this.spare : null };
  }
}
