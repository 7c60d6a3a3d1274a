/**
 * The hardware ports backed by a simulated bioreactor. Each adapter behaves like its real
 * counterpart where jobs can tell the difference: ADC inputs return the raw counts of the chip
 * the description names (with its gain and clipping), the temperature sensor reports the PCB in
 * TMP1075 steps, the hall sensor emits one falling edge per revolution on the clock, and
 * injected I²C faults throw the same I2cError the Pi drivers throw.
 */

import type { Clock, TimerHandle } from "../../util/clock";
import { adsGainFor, adsVoltsToRaw, canonicalAdsGain, adsRawToVolts, picoRawToVolts, picoScaleForFirmware, picoVoltsToRaw } from "../adc-conversion";
import { HardwareError } from "../errors";
import { type AdcInputDescription, type HardwareMap, pinForPwmChannel } from "../hardware-map";
import {
  type Adc,
  type AdcInput,
  clampPercent,
  type Eeprom,
  type GpioEdgeSource,
  type GpioPin,
  type HatIdentity,
  HEATER_PWM_HZ,
  type HardwareBackend,
  LED_CHANNELS,
  type HeatingThermalConstants,
  type LedChannel,
  type LedDriver,
  type Pwm,
  type PwmChannel,
  type TempSensor,
} from "../ports";
import type { SimulatedBioreactor } from "./bioreactor";
import type { BioreactorHandle } from "./handle";

export class SimPwm implements Pwm {
  private dc = 0;
  private started = false;
  private released = false;

  constructor(
    private readonly handle: BioreactorHandle,
    readonly pin: GpioPin,
    readonly frequencyHz: number,
  ) {}

  get dutyCycle(): number {
    return this.dc;
  }

  private apply(dc: number): void {
    if (this.released) throw new HardwareError(`PWM on GPIO ${this.pin} was cleaned up; create a new one`);
    this.handle.use((b) => b.setDutyCycle(this.pin, dc));
    this.dc = dc;
  }

  async start(initialDutyCycle: number): Promise<void> {
    this.started = true;
    this.apply(clampPercent(initialDutyCycle));
  }

  async setDutyCycle(dutyCycle: number): Promise<void> {
    const dc = clampPercent(dutyCycle);
    if (!this.started) {
      if (dc === 0) return;
      throw new HardwareError(`PWM on GPIO ${this.pin}: call start() before setting a duty cycle`);
    }
    this.apply(dc);
  }

  async stop(): Promise<void> {
    if (this.released) return;
    this.apply(0);
    this.started = false;
  }

  async cleanup(): Promise<void> {
    await this.stop();
    this.released = true;
  }
}

export class SimAdcInput implements AdcInput {
  readonly name: string;
  readonly driver: AdcInputDescription["driver"];
  readonly address: number;
  readonly channel: number;
  readonly hasGain: boolean;
  private currentGain = 1;

  constructor(
    private readonly handle: BioreactorHandle,
    description: AdcInputDescription,
    private readonly picoScale: number,
  ) {
    this.name = description.name;
    this.driver = description.driver;
    this.address = description.address;
    this.channel = description.channel;
    this.hasGain = description.driver !== "pico";
  }

  get gain(): number {
    return this.currentGain;
  }

  /** One sample at the bioreactor's "now"; made once, since OD reading calls it ~20 times a reading. */
  private readonly sample = (b: SimulatedBioreactor): number => {
    b.checkI2c(this.address);
    return b.readAdcVolts(this.name);
  };

  async readRaw(): Promise<number> {
    return this.readRawSync();
  }

  readRawSync(): number {
    const volts = this.handle.use(this.sample);
    if (this.driver === "pico") {
      return Math.min(4095 * this.picoScale, Math.max(0, Math.round(picoVoltsToRaw(volts, this.picoScale))));
    }
    return Math.min(32767, Math.max(-32768, Math.round(adsVoltsToRaw(volts, this.currentGain))));
  }

  rawToVolts(raw: number): number {
    return this.driver === "pico" ? picoRawToVolts(raw, this.picoScale) : adsRawToVolts(raw, this.currentGain);
  }

  voltsToRaw(volts: number): number {
    return this.driver === "pico" ? picoVoltsToRaw(volts, this.picoScale) : adsVoltsToRaw(volts, this.currentGain);
  }

  async readVolts(): Promise<number> {
    return this.rawToVolts(await this.readRaw());
  }

  async setGain(gain: number): Promise<void> {
    this.setGainSync(gain);
  }

  private readonly checkI2c = (b: SimulatedBioreactor): void => b.checkI2c(this.address);

  private setGainSync(gain: number): void {
    if (!this.hasGain) {
      if (gain !== 1) throw new HardwareError(`${this.name}: the HAT MCU ADC has no programmable gain (asked for ${gain})`);
      return;
    }
    const g = canonicalAdsGain(gain);
    this.handle.use(this.checkI2c);
    this.currentGain = g;
  }

  async adjustGainFor(volts: number, tolerance = 0.85): Promise<boolean> {
    return this.adjustGainForSync(volts, tolerance);
  }

  adjustGainForSync(volts: number, tolerance = 0.85): boolean {
    if (!this.hasGain) return false;
    const gain = adsGainFor(volts, tolerance);
    if (gain === undefined || gain === this.currentGain) return false;
    this.setGainSync(gain);
    return true;
  }
}

class SimAdc implements Adc {
  private readonly inputs = new Map<string, SimAdcInput>();

  constructor(map: HardwareMap, handle: BioreactorHandle, picoScale: number) {
    for (const d of Object.values(map.adc)) this.inputs.set(d.name, new SimAdcInput(handle, d, picoScale));
  }

  inputNames(): string[] {
    return [...this.inputs.keys()];
  }

  input(name: string): AdcInput {
    const input = this.inputs.get(name);
    if (!input) {
      throw new HardwareError(`No ADC input '${name}' in the hardware description (known: ${this.inputNames().join(", ")})`);
    }
    return input;
  }
}

class SimLedDriver implements LedDriver {
  constructor(
    private readonly handle: BioreactorHandle,
    private readonly address: number,
  ) {}

  async setIntensity(channel: LedChannel, percent: number): Promise<void> {
    this.setIntensitySync(channel, percent);
  }

  /** What `apply` sets (fields rather than a closure per call: `use` runs its function at once). */
  private applyChannel: LedChannel = "A";
  private applyPercent = 0;
  private readonly apply = (b: SimulatedBioreactor): void => {
    b.checkI2c(this.address);
    b.setLed(this.applyChannel, this.applyPercent);
  };

  setIntensitySync(channel: LedChannel, percent: number): void {
    if (!LED_CHANNELS.includes(channel)) throw new RangeError(`LED channel must be A, B, C or D, got ${channel}`);
    this.applyChannel = channel;
    this.applyPercent = clampPercent(percent);
    this.handle.use(this.apply);
  }
}

class SimTempSensor implements TempSensor {
  constructor(
    private readonly handle: BioreactorHandle,
    readonly address: number,
  ) {}

  async readCelsius(): Promise<number> {
    return this.readCelsiusSync();
  }

  readCelsiusSync(): number {
    return this.handle.use(this.read);
  }

  private readonly read = (b: SimulatedBioreactor): number => {
    b.checkI2c(this.address);
    return b.readPcbTemperature();
  };
}

/** While someone listens, schedules the next magnet pass on the clock from the current RPM. */
export class SimHallSensor implements GpioEdgeSource {
  private readonly listeners = new Set<(timestampMs: number) => void>();
  /** The listeners as of the last change, which an edge calls (a copy per edge was most of its garbage). */
  private calling: ReadonlyArray<(timestampMs: number) => void> = [];
  private timer: TimerHandle | undefined;
  /** When the scheduled magnet pass falls (one timer at a time). */
  private nextEdgeAt = 0;
  /** How often a stopped stirrer is checked for motion. */
  static readonly IDLE_POLL_MS = 200;

  constructor(
    readonly pin: GpioPin,
    private readonly handle: BioreactorHandle,
    private readonly clock: Clock,
  ) {}

  onEdge(listener: (timestampMs: number) => void): () => void {
    this.listeners.add(listener);
    this.calling = [...this.listeners];
    if (this.listeners.size === 1) this.scheduleNext();
    return () => {
      this.listeners.delete(listener);
      this.calling = [...this.listeners];
      if (this.listeners.size === 0) this.stopTimer();
    };
  }

  private stopTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /**
   * Delay to the next magnet pass, or undefined while the stir bar stands still. Runs once per
   * simulated revolution (millions in a week), so it builds no intermediate objects.
   */
  private static nextEdgeDelay(b: SimulatedBioreactor): number | undefined {
    const { rpm, phase, periodJitter } = b.stirrerMotion();
    // Drawn even when stopped: the bioreactor's noise sequence must not depend on the speed.
    const z = b.normal();
    if (rpm < 1) return undefined;
    const periodMs = 60_000 / rpm;
    return Math.max(0.05, (1 - phase) * periodMs * (1 + periodJitter * z));
  }

  private static markEdge(b: SimulatedBioreactor): void {
    b.markHallEdge();
  }

  private scheduleNext(): void {
    const now = this.clock.now();
    const delay = this.handle.use(SimHallSensor.nextEdgeDelay);
    if (delay === undefined) {
      this.timer = this.clock.setTimeout(this.idlePoll, SimHallSensor.IDLE_POLL_MS);
      return;
    }
    this.nextEdgeAt = now + delay;
    this.timer = this.clock.setTimeout(this.fire, delay);
  }

  private readonly idlePoll = () => this.scheduleNext();

  private readonly fire = (): void => {
    const due = this.nextEdgeAt;
    this.handle.use(SimHallSensor.markEdge);
    for (const l of this.calling) l(due);
    if (this.listeners.size > 0) this.scheduleNext();
  };

  async close(): Promise<void> {
    this.listeners.clear();
    this.calling = [];
    this.stopTimer();
  }
}

class SimEeprom implements Eeprom {
  constructor(
    private readonly identity: HatIdentity | null,
    private readonly firmware: [number, number] | null,
    private readonly handle: BioreactorHandle,
    private readonly mcuAddress: number | null,
  ) {}

  async readHat(): Promise<HatIdentity | null> {
    return this.identity && { ...this.identity };
  }

  async readFirmwareVersion(): Promise<[number, number] | null> {
    if (this.firmware === null || this.mcuAddress === null) return null;
    const address = this.mcuAddress;
    this.handle.use((b) => b.checkI2c(address));
    return [...this.firmware];
  }
}

export interface SimBackendOptions {
  map: HardwareMap;
  handle: BioreactorHandle;
  clock: Clock;
  /** HAT MCU firmware; null for HAT 1.0. */
  firmware: [number, number] | null;
  hatIdentity: HatIdentity | null;
  /** The simulated PCB's constants, so the temperature inference can be calibrated to it. */
  heatingThermal?: HeatingThermalConstants;
}

export function createSimBackend(opts: SimBackendOptions): HardwareBackend {
  const { map, handle, clock } = opts;
  const mcu = map.adc["version"]?.driver === "pico" ? map.adc["version"].address : null;
  const known = new Set<number>([...Object.values(map.adc).map((d) => d.address), map.dac.address, map.temp.address]);
  const pwmOnPin = (pin: GpioPin, frequencyHz: number): Pwm => new SimPwm(handle, pin, frequencyHz);
  return {
    map,
    pwm: (channel: PwmChannel, frequencyHz: number) => pwmOnPin(pinForPwmChannel(map, channel), frequencyHz),
    pwmOnPin,
    heater: (frequencyHz = HEATER_PWM_HZ) => pwmOnPin(pinForPwmChannel(map, map.pwm.heaterChannel), frequencyHz),
    adc: new SimAdc(map, handle, picoScaleForFirmware(opts.firmware ?? [0, 5])),
    ledDriver: new SimLedDriver(handle, map.dac.address),
    rpmSensor: new SimHallSensor(map.gpio.hallSensorPin, handle, clock),
    tempSensor: new SimTempSensor(handle, map.temp.address),
    eeprom: new SimEeprom(opts.hatIdentity, opts.firmware, handle, mcu),
    heatingThermal: opts.heatingThermal,
    isI2cDevicePresent: async (address: number) => {
      if (!known.has(address)) return false;
      try {
        handle.use((b) => b.checkI2c(address));
        return true;
      } catch {
        return false;
      }
    },
    close: async () => {},
  };
}
