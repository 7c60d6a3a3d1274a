/**
 * Vial liquid bookkeeping, following the original's rules (bioreactor.py): adding media or alt
 * media raises the volume and dilutes biomass and the alt-media fraction; removing waste lowers
 * the volume but never below the efflux tube's tip, which is where the waste needle sits.
 * Beyond those rules the simulator is physical: liquid added above the vial's capacity spills.
 */

export interface LiquidState {
  volumeMl: number;
  altMediaFraction: number;
  cumulativeMediaAddedMl: number;
  cumulativeAltMediaAddedMl: number;
  cumulativeWasteRemovedMl: number;
  /** Culture lost over the rim; a healthy setup keeps this 0. */
  spilledMl: number;
}

export interface VesselParams {
  capacityMl: number;
  /** Height of the waste (efflux) tube expressed as the volume below its tip. */
  effluxTubeMl: number;
}

const SNAP = 1e-12;

function snapFraction(f: number): number {
  if (f < SNAP) return 0;
  if (f > 1 - SNAP) return 1;
  return Math.min(1, Math.max(0, f));
}

/**
 * Adds media or alt media to `s` in place; returns the factor biomass concentration is
 * multiplied by. In place because pumps move liquid in every (≤ 1 s) step while they run.
 */
export function addLiquid(s: LiquidState, vessel: VesselParams, ml: number, kind: "media" | "alt_media"): number {
  if (ml <= 0) return 1;
  const total = s.volumeMl + ml;
  const dilution = s.volumeMl / total;
  const alt = kind === "alt_media" ? (s.altMediaFraction * s.volumeMl + ml) / total : (s.altMediaFraction * s.volumeMl) / total;
  const spill = Math.max(0, total - vessel.capacityMl);
  s.volumeMl = total - spill;
  s.altMediaFraction = snapFraction(alt);
  if (kind === "media") s.cumulativeMediaAddedMl += ml;
  else s.cumulativeAltMediaAddedMl += ml;
  s.spilledMl += spill;
  return dilution;
}

/** Waste removal changes volume only; concentrations stay. In place; returns the volume actually removed. */
export function removeLiquid(s: LiquidState, vessel: VesselParams, ml: number): number {
  if (ml <= 0 || s.volumeMl <= vessel.effluxTubeMl) return 0;
  const volumeMl = Math.max(s.volumeMl - ml, vessel.effluxTubeMl, 0);
  const removedMl = s.volumeMl - volumeMl;
  s.volumeMl = volumeMl;
  s.cumulativeWasteRemovedMl += removedMl;
  return removedMl;
}
