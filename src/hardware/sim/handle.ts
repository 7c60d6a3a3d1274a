/**
 * How hardware adapters reach a unit's bioreactor: `use(fn)` brings it to the clock's "now" and
 * runs `fn` on it. In one process the object is simply shared; across processes each `use`
 * goes through a state store (load → integrate → act → save).
 */

import type { Clock } from "../../util/clock";
import { SimulatedBioreactor } from "./bioreactor";
import type { SimStateStore } from "./state-store";

export interface BioreactorHandle {
  use<T>(fn: (bioreactor: SimulatedBioreactor) => T): T;
}

export class InProcessHandle implements BioreactorHandle {
  constructor(
    readonly bioreactor: SimulatedBioreactor,
    private readonly clock: Clock,
  ) {}

  use<T>(fn: (bioreactor: SimulatedBioreactor) => T): T {
    this.bioreactor.advanceTo(this.clock.now());
    return fn(this.bioreactor);
  }
}

export class StoredHandle implements BioreactorHandle {
  constructor(
    private readonly store: SimStateStore,
    private readonly unit: string,
    private readonly clock: Clock,
    /** Builds the culture when no process has saved one yet. */
    private readonly create: () => SimulatedBioreactor,
  ) {}

  use<T>(fn: (bioreactor: SimulatedBioreactor) => T): T {
    const snapshot = this.store.load(this.unit);
    const bioreactor = snapshot ? SimulatedBioreactor.fromJSON(snapshot) : this.create();
    bioreactor.advanceTo(this.clock.now());
    try {
      return fn(bioreactor);
    } finally {
      // Saved even when fn throws: an injected I²C error still consumed noise and time.
      bioreactor.markSaved();
      this.store.save(this.unit, bioreactor.toJSON());
    }
  }
}
