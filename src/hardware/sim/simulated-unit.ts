/**
 * One simulated Pioreactor: a virtual bioreactor on an injected clock plus the hardware backend
 * jobs use, and handles for tests to inspect the culture and inject faults.
 *
 *   const unit = createSimulatedUnit({ seed: 1, clock });
 *   await runStirring({ hardware: unit.backend, clock, … });
 *   unit.bioreactor.readout().rpm;
 *   unit.faults.stallStirrer();
 *
 * Pass `store` to share one culture between the separate processes of a unit.
 */

import type { Clock } from "../../util/clock";
import { type HardwareMap, loadHardwareMap } from "../hardware-map";
import type { HardwareBackend, HatIdentity, LedChannel, PwmChannel } from "../ports";
import {
  type BioreactorParams,
  type BioreactorReadout,
  type BioreactorSnapshot,
  type FaultState,
  NO_FAULTS,
  type PwmRole,
  SimulatedBioreactor,
} from "./bioreactor";
import { type DeepPartial, defaultParams, mergeParams } from "./defaults";
import { type BioreactorHandle, InProcessHandle, StoredHandle } from "./handle";
import type { PhotodiodeRole } from "./optics";
import { thermalConstants } from "./thermal";
import { createSimBackend } from "./sim-backend";
import { FileSimStateStore, type SimStateStore } from "./state-store";

export interface SimulatedUnitOptions {
  /** Seeds sensor noise and injected faults. Same seed + same reads → same numbers. */
  seed: number;
  clock: Clock;
  /** Names the state file when shared through a store. */
  unitName?: string;
  /** Default pioreactor_40ml 1.5 (the original's default when no model is assigned). */
  model?: { name: string; version: string };
  /** Default "1.2" (the original's testing HAT). */
  hatVersion?: string;
  /** A map already resolved (e.g. with the unit's own description files); else built-ins. */
  map?: HardwareMap;
  /** `[PWM]` channel labels; default 1 stirring, 2 media, 3 alt_media, 4 waste, 5 heating. */
  pwmRoles?: Partial<Record<PwmChannel, PwmRole>>;
  /** `[leds]`: which channel is the IR LED (default A). */
  irLedChannel?: LedChannel;
  /** `[od_config.photodiode_channel]`: default {"1": "REF", "2": "90"}. */
  photodiodes?: Record<string, PhotodiodeRole | null>;
  /** Physics overrides on top of the defaults (see defaults.ts). */
  params?: DeepPartial<BioreactorParams>;
  initial?: { od?: number; volumeMl?: number; altMediaFraction?: number; temperatureC?: number; rpm?: number };
  /** Share state across processes: a directory (file store) or any store. Omit for in-process. */
  store?: string | SimStateStore;
  /** HAT MCU firmware (default 0.5; null on HAT 1.0). */
  firmware?: [number, number] | null;
  /** What the HAT EEPROM reports (default: a Pioreactor HAT of `hatVersion` with a seed-derived serial). */
  hatIdentity?: HatIdentity | null;
}

/** Ground truth and direct manipulation of the virtual culture (not available on real hardware). */
export class SimulatedBioreactorControls {
  constructor(private readonly handle: BioreactorHandle) {}

  readout(): BioreactorReadout {
    return this.handle.use((b) => b.readout());
  }

  /**
   * The culture as of its last update, without bringing it to now: for watching a run. Where the
   * integration steps fall is part of a seeded run's result, so a progress display that asked for
   * `readout()` at wall-clock moments would make two runs of the same seed differ.
   */
  lastReadout(): BioreactorReadout {
    return this.handle instanceof InProcessHandle ? this.handle.bioreactor.readout() : this.readout();
  }
  /** Instant additions, as if pipetted; pumps driven through PWM move liquid over time instead. */
  addMedia(ml: number): number {
    return this.handle.use((b) => b.addMedia(ml));
  }
  addAltMedia(ml: number): number {
    return this.handle.use((b) => b.addAltMedia(ml));
  }
  removeWaste(ml: number): number {
    return this.handle.use((b) => b.removeWaste(ml));
  }
  setAmbientTemperature(celsius: number): void {
    this.handle.use((b) => b.setAmbientTemperature(celsius));
  }
  params(): BioreactorParams {
    return this.handle.use((b) => structuredClone(b.params));
  }
  toJSON(): BioreactorSnapshot {
    return this.handle.use((b) => b.toJSON());
  }
}

/** Fault injection. Faults are part of the state, so they reach every process sharing it. */
export class SimulatedFaults {
  constructor(private readonly handle: BioreactorHandle) {}

  private set(patch: Partial<FaultState>): void {
    this.handle.use((b) => b.setFaults(patch));
  }
  stallStirrer(stalled = true): void {
    this.set({ stirrerStalled: stalled });
  }
  /** Multiply the REF photodiode's noise (e.g. 100 trips the OD job's REF noise gate). */
  setRefNoise(factor: number): void {
    this.set({ refNoiseFactor: factor });
  }
  /** I²C transfers fail with probability `rate` (1 = always), optionally only for some addresses. */
  failI2c(rate = 1, addresses: number[] | null = null): void {
    this.set({ i2cErrorRate: rate, i2cErrorAddresses: addresses });
  }
  clearI2c(): void {
    this.set({ i2cErrorRate: 0, i2cErrorAddresses: null });
  }
  setPcbTemperatureOffset(celsius: number): void {
    this.set({ pcbTemperatureOffsetC: celsius });
  }
  setPhotodiodeOffset(volts: number): void {
    this.set({ photodiodeOffsetVolts: volts });
  }
  clearAll(): void {
    this.set({ ...NO_FAULTS });
  }
  current(): FaultState {
    return this.handle.use((b) => ({ ...b.faults }));
  }
}

export interface SimulatedUnit {
  backend: HardwareBackend;
  bioreactor: SimulatedBioreactorControls;
  faults: SimulatedFaults;
  map: HardwareMap;
}

function serialFromSeed(seed: number): string {
  const h = (Math.imul(seed >>> 0, 2654435761) >>> 0).toString(16).padStart(8, "0");
  return `${h}-0000-4000-8000-${h}${h.slice(0, 4)}`;
}

export function createSimulatedUnit(opts: SimulatedUnitOptions): SimulatedUnit {
  const hatVersion = opts.hatVersion ?? opts.map?.hatVersion ?? "1.2";
  const model = opts.model ?? { name: "pioreactor_40ml", version: "1.5" };
  const map = opts.map ?? loadHardwareMap({ hatVersion, modelName: model.name, modelVersion: model.version });
  const params = mergeParams(
    defaultParams(map, { pwmRoles: opts.pwmRoles, irLedChannel: opts.irLedChannel, photodiodes: opts.photodiodes }),
    opts.params,
  );
  const create = () => SimulatedBioreactor.create(params, opts.seed, { ...opts.initial, timeMs: opts.clock.now() });

  let handle: BioreactorHandle;
  if (opts.store === undefined) {
    handle = new InProcessHandle(create(), opts.clock);
  } else {
    const store = typeof opts.store === "string" ? new FileSimStateStore(opts.store) : opts.store;
    handle = new StoredHandle(store, opts.unitName ?? "unit", opts.clock, create);
  }

  const hasMcu = map.adc["version"]?.driver === "pico";
  const firmware = opts.firmware === undefined ? (hasMcu ? ([0, 5] as [number, number]) : null) : opts.firmware;
  const hatIdentity =
    opts.hatIdentity === undefined
      ? { vendor: "Pioreactor Inc.", productId: "0x0001", hatVersion, serial: serialFromSeed(opts.seed), isPioreactorHat: true }
      : opts.hatIdentity;

  return {
    backend: createSimBackend({ map, handle, clock: opts.clock, firmware, hatIdentity, heatingThermal: thermalConstants(params.thermal) }),
    bioreactor: new SimulatedBioreactorControls(handle),
    faults: new SimulatedFaults(handle),
    map,
  };
}
