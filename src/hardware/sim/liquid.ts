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

/** Returns the new liquid state and the factor biomass concentration is multiplied by. */
export function addLiquid(
  s: LiquidState,
  vessel: VesselParams,
  ml: number,
  kind: "media" | "alt_media",
): { liquid: LiquidState; dilution: number } {
  if (ml <= 0) return { liquid: s, dilution: 1 };
  const total = s.volumeMl + ml;
  const dilution = s.volumeMl / total;
  const alt = kind === "alt_media" ? (s.altMediaFraction * s.volumeMl + ml) / total : (s.altMediaFraction * s.volumeMl) / total;
  const spill = Math.max(0, total - vessel.capacityMl);
  return {
    liquid: {
      ...s,
      volumeMl: total - spill,
      altMediaFraction: snapFraction(alt),
      cumulativeMediaAddedMl: s.cumulativeMediaAddedMl + (kind === "media" ? ml : 0),
      cumulativeAltMediaAddedMl: s.cumulativeAltMediaAddedMl + (kind === "alt_media" ? ml : 0),
      spilledMl: s.spilledMl + spill,
    },
    dilution,
  };
}

/** Waste removal changes volume only; concentrations stay. Returns the volume actually removed too. */
export function removeLiquid(s: LiquidState, vessel: VesselParams, ml: number): { liquid: LiquidState; removedMl: number } {
  if (ml <= 0 || s.volumeMl <= vessel.effluxTubeMl) return { liquid: s, removedMl: 0 };
  const volumeMl = Math.max(s.volumeMl - ml, vessel.effluxTubeMl, 0);
  const removedMl = s.volumeMl - volumeMl;
  return { liquid: { ...s, volumeMl, cumulativeWasteRemovedMl: s.cumulativeWasteRemovedMl + removedMl }, removedMl };
}
