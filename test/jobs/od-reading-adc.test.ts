import { trimExtrema, trimmedMeanWithPrior } from "../../src/jobs/od-reading-adc";

/** The estimator as first written: mean of `trimExtrema`'s kept values, then the ridge prior. */
function reference(values: number[], prior: number | undefined, penalizer: number): number {
  const { kept } = trimExtrema(values);
  if (kept.length === 0) return 0;
  const m = kept.reduce((a, b) => a + b, 0) / kept.length;
  if (prior !== undefined && penalizer) return (kept.length * m + penalizer * prior) / (kept.length + penalizer);
  return m;
}

describe("trimmedMeanWithPrior", () => {
  test("drops one minimum and one maximum (first occurrences)", () => {
    expect(trimmedMeanWithPrior([5, 1, 9, 1, 9, 3], undefined, 0)).toBe((5 + 1 + 9 + 3) / 4);
    expect(trimmedMeanWithPrior([2, 2, 2, 2], undefined, 0)).toBe(2);
    expect(trimmedMeanWithPrior([4, 8], undefined, 0)).toBe(6);
    expect(trimmedMeanWithPrior([], undefined, 0)).toBe(0);
    expect(trimmedMeanWithPrior([10, 0, 20, 30], 100, 2)).toBe((2 * 15 + 2 * 100) / 4);
  });

  test("is bit for bit the mean of the kept values, summed in order", () => {
    let s = 12345;
    const next = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 2 ** 32;
    };
    for (let trial = 0; trial < 500; trial++) {
      const n = trial % 45;
      const values = Array.from({ length: n }, () => (next() < 0.1 ? 7.25 : next() * 3000 - 5));
      const prior = trial % 3 === 0 ? undefined : next() * 3000;
      const penalizer = trial % 4 === 0 ? 0 : next() * 50;
      expect(Object.is(trimmedMeanWithPrior(values, prior, penalizer), reference(values, prior, penalizer))).toBe(true);
    }
  });
});
