/**
 * What one simulated Pioreactor is made of, besides its jobs: the virtual bioreactor and its
 * hardware backend, the unit's caches (in memory: no other process reads them), its job registry,
 * the vial's volume bookkeeping and pump calibrations that match the simulated pumps.
 */
import path from "node:path";
import type Database from "better-sqlite3";
import type { PumpEnvironment } from "../actions/pump";
import { linearPumpCalibration, StaticPumpCalibrations } from "../actions/pump-calibration";
import { BioreactorState } from "../automations/bioreactor-state";
import { type ReactorModel, reactorModel } from "../automations/reactor-model";
import type { ConfigReader } from "../config/types";
import { createSimulatedUnit, type SimulatedUnit } from "../hardware/sim/simulated-unit";
import type { BioreactorParams } from "../hardware/sim/bioreactor";
import type { DeepPartial } from "../hardware/sim/defaults";
import type { JobDeps } from "../jobs/background-job";
import { KeyValueCache, openCacheDatabase } from "../jobs/local-storage";
import type { OdReadingStorage } from "../jobs/od-reading";
import { JobRegistry } from "../jobs/registry";
import type { Clock } from "../util/clock";

export interface SimUnitPartsOptions {
  unit: string;
  /** The experiment whose volume bookkeeping the simulated vial starts from. */
  experiment: string;
  clock: Clock;
  config: ConfigReader;
  seed: number;
  random: () => number;
  /** Physics overrides for this unit's culture (growth rate, lag …). */
  params?: DeepPartial<BioreactorParams>;
  initialOd?: number;
  /** ADC sweeps per OD reading (undefined: the job's default, 40). */
  adcOversampling?: number;
}

export class SimUnitParts {
  readonly unit: string;
  readonly sim: SimulatedUnit;
  readonly registry: JobRegistry;
  readonly model: ReactorModel = reactorModel("pioreactor_40ml", "1.5");
  readonly bioreactor: BioreactorState;
  readonly calibrations: StaticPumpCalibrations;
  readonly random: () => number;
  readonly adcOversampling: number | undefined;
  /** The registry's tables (in-memory SQLite: its queries are the real ones, and it is read rarely). */
  private readonly intermittent: Database.Database;
  /** One cache per name, shared by every job of the unit as the file's table would be. */
  private readonly caches = new Map<string, KeyValueCache>();

  constructor(o: SimUnitPartsOptions) {
    this.unit = o.unit;
    this.random = o.random;
    this.adcOversampling = o.adcOversampling;
    // In memory: a simulated unit's caches live as long as the run, and a file per unit would cost I/O for nothing.
    this.intermittent = openCacheDatabase(":memory:");
    // Every job of every simulated unit shares this process's pid, and it is alive.
    this.registry = new JobRegistry(this.intermittent, () => true, { deferSettingWrites: true });
    this.bioreactor = new BioreactorState(this.persistentCache("bioreactor"), o.config, this.model);
    this.sim = createSimulatedUnit({
      seed: o.seed,
      clock: o.clock,
      unitName: o.unit,
      params: o.params,
      initial: { od: o.initialOd ?? 0.05, volumeMl: this.bioreactor.get(o.experiment, "current_volume_ml") },
    });
    // Calibrations that match the simulated pumps exactly, as a freshly calibrated unit's would.
    const flow = this.sim.bioreactor.params().pumps;
    this.calibrations = new StaticPumpCalibrations({
      media_pump: linearPumpCalibration("sim_media", flow.media.mlPerSecondAtFullDuty),
      alt_media_pump: linearPumpCalibration("sim_alt_media", flow.alt_media.mlPerSecondAtFullDuty),
      waste_pump: linearPumpCalibration("sim_waste", flow.waste.mlPerSecondAtFullDuty),
    });
  }

  private cache(kind: string, name: string): KeyValueCache {
    const key = `${kind}/${name}`;
    let c = this.caches.get(key);
    if (!c) {
      // LED, heater and PWM state change several times per OD reading; as SQLite statements
      // that was a quarter of a simulated week's time.
      c = KeyValueCache.inMemory(name);
      this.caches.set(key, c);
    }
    return c;
  }

  intermittentCache(name: string): KeyValueCache {
    return this.cache("intermittent", name);
  }

  persistentCache(name: string): KeyValueCache {
    return this.cache("persistent", name);
  }

  odStorage(): OdReadingStorage {
    return {
      leds: this.intermittentCache("leds"),
      ledLocks: this.intermittentCache("led_locks"),
      odBlank: this.persistentCache("od_blank"),
      irLedReferenceNormalization: this.persistentCache("ir_led_reference_normalization"),
      activeCalibrations: this.persistentCache("active_calibrations"),
      // No OD calibration files on a simulated unit.
      calibrationsDir: path.join("/nonexistent", "pioreactor-sim", "calibrations"),
    };
  }

  pumpEnvironment(deps: JobDeps): PumpEnvironment {
    return {
      unit: deps.unit,
      experiment: deps.experiment,
      clock: deps.clock,
      config: deps.config,
      registry: this.registry,
      backend: this.sim.backend,
      pwmDutyCycles: this.intermittentCache("pwm_dc"),
      pwmLocks: this.intermittentCache("pwm_locks"),
      calibrations: this.calibrations,
      bioreactor: this.bioreactor,
      model: this.model,
      testing: false,
      jobSource: deps.jobSource,
      pid: deps.pid,
      leader: deps.leader,
      connect: deps.connect,
      logSinks: deps.logSinks,
    };
  }

  async close(): Promise<void> {
    await this.sim.backend.close().catch(() => undefined);
    this.intermittent.close();
  }
}
