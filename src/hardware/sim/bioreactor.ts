/**
 * One virtual Pioreactor: culture, liquid, heater/PCB/vial temperatures, stirrer, LEDs and
 * photodiodes. Time is whatever the caller says (`advanceTo`), so it runs on any Clock; state is
 * integrated lazily up to the time of each read or actuation, in steps solved exactly (see the
 * model modules), so results do not depend on how often it is read.
 *
 * Randomness only enters through sensor reads (noise, spikes, injected I²C errors), drawn from a
 * seeded generator stored in the state: the same seed and the same sequence of reads reproduce
 * the same numbers, also across a save/load.
 */

import { I2cError, hex } from "../errors";
import { LED_CHANNELS, type LedChannel } from "../ports";
import {
  type CultureParams,
  type CultureState,
  growCulture,
  initialLagQ,
  realisedGrowthRate,
  specificGrowthRate,
} from "./culture";
import { addLiquid, type LiquidState, removeLiquid, type VesselParams } from "./liquid";
import { type Angle, ledOutputFactor, type OpticsParams, type PhotodiodeRole, photodiodeSignal, referenceSignal } from "./optics";
import { Random, type RandomState } from "./random";
import { type StirrerParams, type StirrerState, stepStirrer } from "./stirrer";
import { ThermalIntegrator, type ThermalParams, type ThermalState } from "./thermal";

/** What a PWM pin drives (the `[PWM]` config section maps channels to these labels). */
export type PwmRole = "stirring" | "media" | "alt_media" | "waste" | "heating" | "other";
export type PumpKind = "media" | "alt_media" | "waste";

/** What an ADC input measures in the simulation. */
export type AdcInputRole = PhotodiodeRole | "aux" | "version" | "unused";

export interface PumpParams {
  /** Flow at 100 % duty cycle; flow scales linearly with duty cycle. */
  mlPerSecondAtFullDuty: number;
}

export interface BioreactorWiring {
  /** GPIO pin (as a string key) → what it drives. */
  pinRoles: Record<string, PwmRole>;
  irLedChannel: LedChannel;
  /** ADC input name (pd1, aux …) → what it measures. */
  adcInputs: Record<string, AdcInputRole>;
}

export interface BioreactorParams {
  culture: CultureParams;
  vessel: VesselParams;
  thermal: ThermalParams;
  stirrer: StirrerParams;
  optics: OpticsParams;
  pumps: Record<PumpKind, PumpParams>;
  ambientC: number;
  /** The HAT's AUX (pump/motor) rail; the aux ADC input sees it through a 0.134 divider. */
  auxRailVolts: number;
  /** TMP1075 read noise before 0.0625 °C quantisation. */
  temperatureSensorNoiseC: number;
  /** Longest integration step; shorter while pumps run so dilution and growth interleave finely. */
  maxStepSeconds: number;
  wiring: BioreactorWiring;
}

export interface FaultState {
  /** The stir bar is decoupled or the motor jammed: 0 RPM whatever the duty cycle. */
  stirrerStalled: boolean;
  /** Multiplies the REF photodiode's noise (a loose or fogged reference). */
  refNoiseFactor: number;
  /** Probability that an I²C transfer fails (EREMOTEIO). */
  i2cErrorRate: number;
  /** Addresses affected by `i2cErrorRate`; null = every address. */
  i2cErrorAddresses: number[] | null;
  /** Added to the PCB temperature the sensor reports (exercise over-temperature safety). */
  pcbTemperatureOffsetC: number;
  /** Added to every photodiode signal (exercise the over-voltage safety). */
  photodiodeOffsetVolts: number;
}

export const NO_FAULTS: FaultState = {
  stirrerStalled: false,
  refNoiseFactor: 1,
  i2cErrorRate: 0,
  i2cErrorAddresses: null,
  pcbTemperatureOffsetC: 0,
  photodiodeOffsetVolts: 0,
};

export interface BioreactorState {
  timeMs: number;
  rng: RandomState;
  culture: CultureState;
  liquid: LiquidState;
  thermal: ThermalState;
  stirrer: StirrerState;
  leds: Record<LedChannel, number>;
  /** GPIO pin (string) → duty cycle %. */
  dutyCycles: Record<string, number>;
  /** Per ADC input AR(1) noise residual (volts). */
  noise: Record<string, number>;
  faults: FaultState;
  /** Incremented on every save; lets processes sharing a file notice changes. */
  revision: number;
}

export const SNAPSHOT_FORMAT = "pioreactor-ts/simulated-bioreactor";

export interface BioreactorSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: 1;
  params: BioreactorParams;
  state: BioreactorState;
}

/** What a test or dashboard can see of the virtual culture (ground truth, no sensor noise). */
export interface BioreactorReadout {
  timeMs: number;
  /** Biomass in OD units. */
  od: number;
  /** Realised specific growth rate right now (h⁻¹). */
  growthRatePerHour: number;
  /** Maximum specific rate at the current temperature and media (h⁻¹), before lag and crowding. */
  potentialGrowthRatePerHour: number;
  inLag: boolean;
  volumeMl: number;
  altMediaFraction: number;
  cumulativeMediaAddedMl: number;
  cumulativeAltMediaAddedMl: number;
  cumulativeWasteRemovedMl: number;
  spilledMl: number;
  vialTemperatureC: number;
  pcbTemperatureC: number;
  rpm: number;
  leds: Record<LedChannel, number>;
  dutyCycles: Record<string, number>;
}

export interface InitialConditions {
  od?: number;
  volumeMl?: number;
  altMediaFraction?: number;
  /** Vial and PCB start here (default: ambient). */
  temperatureC?: number;
  rpm?: number;
  timeMs: number;
}

const PUMP_KINDS: readonly PumpKind[] = ["media", "alt_media", "waste"];

/** One ADC input's AR(1) noise residual (see `SimulatedBioreactor.noiseSlot`). */
interface NoiseSlot {
  residual: number;
}

const AUX_DIVIDER = 0.134;
const TMP1075_STEP_C = 0.0625;

export class SimulatedBioreactor {
  private readonly rng: Random;
  /**
   * Pins per role, from the wiring (fixed for the bioreactor's life): every integration step asks
   * for six roles' duty cycles, and walking the wiring table each time was a tenth of a simulation.
   */
  private readonly pinsByRole: Record<PwmRole, string[]>;
  /**
   * Each role's duty cycle (the highest of its pins), kept in step with `state.dutyCycles` by
   * `setDutyCycle`: an OD reading integrates about a dozen short steps, each asking for six roles,
   * while duty cycles change a few times a minute at most.
   */
  private readonly dutyByRole: Record<PwmRole, number>;
  private readonly thermal = new ThermalIntegrator();
  /** Per ADC input, the residual `state.noise` holds; copied back there by `toJSON`. */
  private readonly noiseSlots = new Map<string, NoiseSlot>();

  private constructor(
    readonly params: BioreactorParams,
    private state: BioreactorState,
  ) {
    this.rng = new Random(state.rng);
    this.pinsByRole = { stirring: [], media: [], alt_media: [], waste: [], heating: [], other: [] };
    for (const [pin, role] of Object.entries(params.wiring.pinRoles)) this.pinsByRole[role].push(pin);
    this.dutyByRole = { stirring: 0, media: 0, alt_media: 0, waste: 0, heating: 0, other: 0 };
    for (const role of Object.keys(this.pinsByRole) as PwmRole[]) this.refreshDuty(role);
  }

  static create(params: BioreactorParams, seed: number, initial: InitialConditions): SimulatedBioreactor {
    const t = initial.temperatureC ?? params.ambientC;
    const leds = Object.fromEntries(LED_CHANNELS.map((c) => [c, 0])) as Record<LedChannel, number>;
    const state: BioreactorState = {
      timeMs: initial.timeMs,
      rng: new Random(seed).state(),
      culture: { biomassOd: initial.od ?? 0.05, lagQ: initialLagQ(params.culture) },
      liquid: {
        volumeMl: initial.volumeMl ?? params.vessel.effluxTubeMl,
        altMediaFraction: initial.altMediaFraction ?? 0,
        cumulativeMediaAddedMl: 0,
        cumulativeAltMediaAddedMl: 0,
        cumulativeWasteRemovedMl: 0,
        spilledMl: 0,
      },
      thermal: { pcbC: t, vialC: t },
      stirrer: { rpm: initial.rpm ?? 0, phase: 0 },
      leds,
      dutyCycles: {},
      noise: {},
      faults: { ...NO_FAULTS },
      revision: 0,
    };
    return new SimulatedBioreactor(params, state);
  }

  static fromJSON(snapshot: BioreactorSnapshot): SimulatedBioreactor {
    if (!snapshot || snapshot.format !== SNAPSHOT_FORMAT || snapshot.version !== 1) {
      throw new Error(`not a simulated bioreactor snapshot (expected format '${SNAPSHOT_FORMAT}' version 1)`);
    }
    return new SimulatedBioreactor(structuredClone(snapshot.params), structuredClone(snapshot.state));
  }

  toJSON(): BioreactorSnapshot {
    this.state.rng = this.rng.state();
    for (const [input, slot] of this.noiseSlots) this.state.noise[input] = slot.residual;
    return { format: SNAPSHOT_FORMAT, version: 1, params: structuredClone(this.params), state: structuredClone(this.state) };
  }

  get timeMs(): number {
    return this.state.timeMs;
  }

  get revision(): number {
    return this.state.revision;
  }

  markSaved(): void {
    this.state.revision++;
  }

  // ---- time ----------------------------------------------------------------------------

  /** Integrates every model up to `timeMs`. Earlier times are ignored (time never runs back). */
  advanceTo(timeMs: number): void {
    while (this.state.timeMs < timeMs) {
      const pumping = this.pumpsRunning();
      const maxMs = (pumping ? Math.min(1, this.params.maxStepSeconds) : this.params.maxStepSeconds) * 1000;
      const stepMs = Math.min(maxMs, timeMs - this.state.timeMs);
      this.step(stepMs / 1000);
      this.state.timeMs += stepMs;
    }
  }

  private refreshDuty(role: PwmRole): void {
    let dc = 0;
    for (const pin of this.pinsByRole[role]) dc = Math.max(dc, this.state.dutyCycles[pin] ?? 0);
    this.dutyByRole[role] = dc;
  }

  private pumpsRunning(): boolean {
    return this.dutyByRole.media > 0 || this.dutyByRole.alt_media > 0 || this.dutyByRole.waste > 0;
  }

  private step(seconds: number): void {
    const p = this.params;
    const s = this.state;
    // Every model steps its state object in place: this runs millions of times a simulated week.
    const t0 = s.thermal.vialC;
    this.thermal.step(s.thermal, p.thermal, this.dutyByRole.heating, p.ambientC, s.liquid.volumeMl, seconds);
    const meanVialC = (t0 + s.thermal.vialC) / 2;
    const mu = specificGrowthRate(p.culture, meanVialC, s.liquid.altMediaFraction);
    growCulture(s.culture, p.culture, mu, seconds / 3600);
    stepStirrer(s.stirrer, p.stirrer, this.dutyByRole.stirring, s.faults.stirrerStalled, seconds);
    if (this.pumpsRunning()) this.pump(seconds);
  }

  /** Liquid the running pumps move in a step; kept out of `step` so V8 can inline more of the per-step models into it. */
  private pump(seconds: number): void {
    for (const kind of PUMP_KINDS) {
      const dc = this.dutyByRole[kind];
      if (dc > 0) this.moveLiquid(kind, (this.params.pumps[kind].mlPerSecondAtFullDuty * dc * seconds) / 100);
    }
  }

  private moveLiquid(kind: PumpKind, ml: number): number {
    if (kind === "waste") return removeLiquid(this.state.liquid, this.params.vessel, ml);
    const dilution = addLiquid(this.state.liquid, this.params.vessel, ml, kind);
    this.state.culture.biomassOd *= dilution;
    return ml;
  }

  // ---- actuators (callers advance time first) ----------------------------------------

  setDutyCycle(pin: number, dutyCycle: number): void {
    const key = String(pin);
    if (dutyCycle <= 0) delete this.state.dutyCycles[key];
    else this.state.dutyCycles[key] = Math.min(100, dutyCycle);
    const role = this.params.wiring.pinRoles[key];
    if (role !== undefined) this.refreshDuty(role);
  }

  dutyCycle(pin: number): number {
    return this.state.dutyCycles[String(pin)] ?? 0;
  }

  setLed(channel: LedChannel, percent: number): void {
    this.state.leds[channel] = Math.min(100, Math.max(0, percent));
  }

  /** Instant additions/removals, bypassing pumps (tests, scripted scenarios). Return mL moved. */
  addMedia(ml: number): number {
    return this.moveLiquid("media", ml);
  }

  addAltMedia(ml: number): number {
    return this.moveLiquid("alt_media", ml);
  }

  removeWaste(ml: number): number {
    return this.moveLiquid("waste", ml);
  }

  setAmbientTemperature(celsius: number): void {
    this.params.ambientC = celsius;
  }

  get faults(): FaultState {
    return this.state.faults;
  }

  setFaults(patch: Partial<FaultState>): void {
    this.state.faults = { ...this.state.faults, ...patch };
  }

  // ---- sensors ----------------------------------------------------------------------

  /** Throws like an unanswered I²C device when an injected fault hits `address`. */
  checkI2c(address: number): void {
    const f = this.state.faults;
    if (f.i2cErrorRate <= 0) return;
    if (f.i2cErrorAddresses !== null && !f.i2cErrorAddresses.includes(address)) return;
    if (this.rng.next() < f.i2cErrorRate) {
      throw new I2cError(`I2C transfer to ${hex(address)} failed: Remote I/O error (simulated fault)`, address, "EREMOTEIO");
    }
  }

  /** One noisy sample of an ADC input, in volts, at the current state time. */
  readAdcVolts(input: string): number {
    const role = this.params.wiring.adcInputs[input];
    if (role === undefined) throw new Error(`simulated ADC has no input '${input}'`);
    const o = this.params.optics;
    let volts: number;
    switch (role) {
      case "REF":
        volts =
          o.darkVolts + referenceSignal(o, this.irPercent(), this.ledFactor()) + this.rng.normal() * o.refNoiseVolts * this.state.faults.refNoiseFactor;
        break;
      case "aux":
        volts = this.params.auxRailVolts * AUX_DIVIDER + this.rng.normal() * 0.002;
        break;
      case "version":
      case "unused":
        volts = o.darkVolts + this.rng.normal() * o.absoluteNoiseVolts;
        break;
      default:
        volts = this.scatterVolts(input, role);
    }
    return Math.min(o.maxVolts, Math.max(0, volts));
  }

  // The helpers below take no computed numbers as arguments: where V8 does not inline a call,
  // each such number is boxed on the heap, and these run on every sample.

  private irPercent(): number {
    return this.state.leds[this.params.wiring.irLedChannel];
  }

  private ledFactor(): number {
    return ledOutputFactor(this.params.optics, this.state.thermal.vialC);
  }

  /**
   * The input's noise residual as a slot updated in place: stored by name into `state.noise`, each
   * sample boxed its new residual (a keyed store of a computed number).
   */
  private noiseSlot(input: string): NoiseSlot {
    let slot = this.noiseSlots.get(input);
    if (slot === undefined) {
      slot = { residual: this.state.noise[input] ?? 0 };
      this.noiseSlots.set(input, slot);
    }
    return slot;
  }

  private scatterVolts(input: string, angle: Angle): number {
    const o = this.params.optics;
    const s = this.state;
    const signal = photodiodeSignal(o, angle, s.culture.biomassOd, this.irPercent(), this.ledFactor());
    let otherLight = 0;
    for (const c of LED_CHANNELS) if (c !== this.params.wiring.irLedChannel) otherLight += s.leds[c];
    const sigma = o.relativeNoise * signal * (1 + (o.stirringNoisePer1000Rpm * s.stirrer.rpm) / 1000) + o.absoluteNoiseVolts;
    const rho = o.noiseAutocorrelation;
    const noise = this.noiseSlot(input);
    const residual = rho * noise.residual + Math.sqrt(1 - rho * rho) * sigma * this.rng.normal();
    noise.residual = residual;
    let spike = 0;
    if (this.rng.next() < o.spikeProbability) spike = this.rng.uniform(2, 5) * sigma * this.rng.normal();
    // Skipped without ripple (the default): the sine of ~1e12 rad needs a slow argument reduction,
    // and 0·sin is ±0, which cannot change the clamped sum below.
    const ripple = o.mainsRippleVolts === 0 ? 0 : o.mainsRippleVolts * Math.sin((2 * Math.PI * o.mainsHz * s.timeMs) / 1000);
    return o.darkVolts + signal + o.crosstalkVoltsPerPercent * otherLight + residual + spike + ripple + s.faults.photodiodeOffsetVolts;
  }

  /** TMP1075 reading of the PCB: noisy, quantised to 0.0625 °C. */
  readPcbTemperature(): number {
    const s = this.state;
    const raw = s.thermal.pcbC + s.faults.pcbTemperatureOffsetC + this.rng.normal() * this.params.temperatureSensorNoiseC;
    return Math.round(raw / TMP1075_STEP_C) * TMP1075_STEP_C;
  }

  /** For the hall sensor: current speed and the fraction of a revolution since the last edge. */
  stirrerMotion(): { rpm: number; phase: number; periodJitter: number } {
    // Spelled out rather than spread: the hall sensor asks once per revolution.
    const s = this.state.stirrer;
    return { rpm: s.rpm, phase: s.phase, periodJitter: this.params.stirrer.periodJitter };
  }

  /** The magnet passed the sensor: a new revolution starts. */
  markHallEdge(): void {
    this.state.stirrer.phase = 0;
  }

  /** Normal draw for callers that add their own noise (hall-sensor jitter). */
  normal(): number {
    return this.rng.normal();
  }

  readout(): BioreactorReadout {
    const s = this.state;
    const p = this.params;
    const potential = specificGrowthRate(p.culture, s.thermal.vialC, s.liquid.altMediaFraction);
    return {
      timeMs: s.timeMs,
      od: s.culture.biomassOd,
      growthRatePerHour: realisedGrowthRate(s.culture, p.culture, potential),
      potentialGrowthRatePerHour: potential,
      inLag: s.culture.lagQ !== null && s.culture.lagQ < 10,
      volumeMl: s.liquid.volumeMl,
      altMediaFraction: s.liquid.altMediaFraction,
      cumulativeMediaAddedMl: s.liquid.cumulativeMediaAddedMl,
      cumulativeAltMediaAddedMl: s.liquid.cumulativeAltMediaAddedMl,
      cumulativeWasteRemovedMl: s.liquid.cumulativeWasteRemovedMl,
      spilledMl: s.liquid.spilledMl,
      vialTemperatureC: s.thermal.vialC,
      pcbTemperatureC: s.thermal.pcbC,
      rpm: s.stirrer.rpm,
      leds: { ...s.leds },
      dutyCycles: { ...s.dutyCycles },
    };
  }
}
