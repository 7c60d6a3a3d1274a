/** Polynomials as coefficient lists, highest degree first (the calibration files' `poly` order). */

export function polyEval(coefficients: readonly number[], x: number): number {
  let y = 0;
  for (const c of coefficients) y = y * x + c;
  return y;
}

function derivative(coefficients: readonly number[]): number[] {
  const n = coefficients.length - 1;
  return coefficients.slice(0, -1).map((c, i) => c * (n - i));
}

/**
 * Real roots of a polynomial, sorted. Roots are separated by the roots of the derivative, so each
 * monotone stretch between them is bisected; a touching root at an extremum is caught by its
 * near-zero value. Leading coefficients with |c| < `zeroBelow` are dropped first.
 */
export function realPolynomialRoots(coefficients: readonly number[], zeroBelow = 0): number[] {
  let c = [...coefficients];
  while (c.length > 0 && Math.abs(c[0]) <= zeroBelow) c = c.slice(1);
  if (c.length <= 1) return [];
  if (c.length === 2) return [-c[1] / c[0]];
  const bound = 1 + Math.max(...c.slice(1).map((x) => Math.abs(x / c[0])));
  const critical = realPolynomialRoots(derivative(c)).filter((x) => x > -bound && x < bound);
  const edges = [-bound, ...critical, bound];
  const roots: number[] = [];
  const scale = Math.max(...c.map(Math.abs));
  for (let i = 0; i < edges.length - 1; i++) {
    let lo = edges[i];
    let hi = edges[i + 1];
    let flo = polyEval(c, lo);
    const fhi = polyEval(c, hi);
    if (Math.abs(flo) <= 1e-12 * scale) {
      roots.push(lo);
      continue;
    }
    if (flo * fhi > 0) continue;
    for (let k = 0; k < 200 && hi - lo > 1e-15 * Math.max(1, Math.abs(lo)); k++) {
      const mid = (lo + hi) / 2;
      const fmid = polyEval(c, mid);
      if (flo * fmid <= 0) hi = mid;
      else {
        lo = mid;
        flo = fmid;
      }
    }
    roots.push((lo + hi) / 2);
  }
  if (Math.abs(polyEval(c, bound)) <= 1e-12 * scale) roots.push(bound);
  return roots.sort((a, b) => a - b).filter((r, i, a) => i === 0 || Math.abs(r - a[i - 1]) > 1e-12);
}
