/**
 * The hardware ports jobs talk to. Jobs never open a bus, a file under /sys or a GPIO line
 * themselves: they receive a `HardwareBackend` (Pi drivers on a real unit, the simulated
 * bioreactor in tests and rehearsals) so the same job code runs on both.
 *
 * Every operation that may touch a bus is async: an I²C transfer takes about a millisecond and
 * must not block the event loop that also serves MQTT.
 */

import type { HardwareMap } from "./hardware-map";

/** PWM channel numbers as printed on the HAT (`[PWM]` section keys in config.ini). */
export type PwmChannel = "1" | "2" | "3" | "4" | "5";
export const PWM_CHANNELS: readonly PwmChannel[] = ["1", "2", "3", "4", "5"];

/** LED driver channels (`[leds]` section keys). */
export type LedChannel = "A" | "B" | "C" | "D";
export const LED_CHANNELS: readonly LedChannel[] = ["A", "B", "C", "D"];

/** Broadcom GPIO number. */
export type GpioPin = number;

/** One PWM output (stirring motor, pump, heater). Duty cycles are percentages 0..100. */
export interface Pwm {
  readonly pin: GpioPin;
  readonly frequencyHz: number;
  /** Last duty cycle applied (0 before `start`). */
  readonly dutyCycle: number;
  /** Begin driving the pin at `initialDutyCycle` %. */
  start(initialDutyCycle: number): Promise<void>;
  /** Clamped to 0..100. Throws if `start` was not called, unless the value is 0 (a no-op then). */
  setDutyCycle(dutyCycle: number): Promise<void>;
  /** Duty cycle 0, output disabled; may be started again. */
  stop(): Promise<void>;
  /** Stop and release the pin (unexport, close handles). The object is unusable afterwards. */
  cleanup(): Promise<void>;
}

/** Which chip converts a given input; decides raw units and whether gain exists. */
export type AdcDriverKind = "pico" | "ads1114" | "ads1115";

/** One analog input (a photodiode, the AUX rail sense, …). */
export interface AdcInput {
  /** Name from the hardware description: `pd1`…`pd4`, `aux`, `version`. */
  readonly name: string;
  readonly driver: AdcDriverKind;
  readonly address: number;
  readonly channel: number;
  /** Current programmable gain (always 1 where the chip has none). */
  readonly gain: number;
  /** True when `setGain` can change the input range (ADS111x). */
  readonly hasGain: boolean;
  /**
   * One conversion in the chip's raw units (the OD job keeps dark offsets and priors in raw
   * units, as the original does, so it needs raw values and the conversion separately).
   */
  readRaw(): Promise<number>;
  /**
   * The same conversion, returned directly, for inputs whose read never waits (the simulator).
   * Optional: bus-backed drivers leave it out and callers fall back to `readRaw`. OD reading
   * samples ~20 times a reading, and awaiting an already-known value costs a promise each time.
   */
  readRawSync?(): number;
  rawToVolts(raw: number): number;
  voltsToRaw(volts: number): number;
  /** `rawToVolts(await readRaw())`. */
  readVolts(): Promise<number>;
  /** Set the programmable gain (2/3, 1, 2, 4, 8, 16). Rejects values the chip lacks. */
  setGain(gain: number): Promise<void>;
  /**
   * Pick the gain whose window (scaled by `tolerance`) contains `volts`, as the original's
   * `check_on_gain` does. Returns true if the gain changed. No-op on chips without gain.
   */
  adjustGainFor(volts: number, tolerance?: number): Promise<boolean>;
  /** The same, done before returning (the simulator); optional like `readRawSync`. */
  adjustGainForSync?(volts: number, tolerance?: number): boolean;
}

/** All analog inputs a unit has, by description name. */
export interface Adc {
  /** Names in description order, e.g. `["pd1", "pd2", "aux", "version"]`. */
  inputNames(): string[];
  /** Throws a HardwareError listing the known names when `name` is not described. */
  input(name: string): AdcInput;
}

/** LED intensity driver (the HAT MCU's 8-bit PWM, or the DAC43608 on HAT 1.0). */
export interface LedDriver {
  /** Intensity in % (0..100). 0 turns the channel fully off. */
  setIntensity(channel: LedChannel, percent: number): Promise<void>;
  /**
   * The same, done before returning, for drivers that never wait (the simulator). Optional: bus
   * drivers leave it out and callers await `setIntensity`. OD reading switches four channels twice
   * a reading.
   */
  setIntensitySync?(channel: LedChannel, percent: number): void;
}

/** Timestamped edges of a digital input, for the stirring hall sensor (one falling edge per revolution). */
export interface GpioEdgeSource {
  readonly pin: GpioPin;
  /**
   * Calls `listener(timestampMs)` on every falling edge while subscribed. Timestamps are
   * high-resolution milliseconds on the backend's time base (fractional, monotonic); only
   * differences between them are meaningful. Returns the unsubscribe function.
   */
  onEdge(listener: (timestampMs: number) => void): () => void;
  close(): Promise<void>;
}

/** The heating PCB's temperature sensor (TMP1075). */
export interface TempSensor {
  readonly address: number;
  readCelsius(): Promise<number>;
  /**
   * The same, returned directly, for sensors whose read never waits (the simulator). Optional:
   * the I²C driver leaves it out. A thermostat reads the sensor 126 times per 200 s.
   */
  readCelsiusSync?(): number;
}

/** What the HAT's ID EEPROM (as exposed by the Pi firmware) says about the board. */
export interface HatIdentity {
  vendor: string;
  productId: string;
  /** e.g. "1.2"; null when the EEPROM has no version. */
  hatVersion: string | null;
  /** The HAT's uuid, used as its serial number. */
  serial: string;
  /** vendor and product id match a Pioreactor HAT. */
  isPioreactorHat: boolean;
}

export interface Eeprom {
  /** null when no HAT EEPROM is visible (no HAT, or an unprogrammed one). */
  readHat(): Promise<HatIdentity | null>;
  /** HAT MCU firmware (major, minor) over I²C; null on HATs without an MCU (1.0). */
  readFirmwareVersion(): Promise<[number, number] | null>;
}

/**
 * Thermal constants of the heating PCB and the vial on it (the two-node model of
 * `sim/thermal.ts`), for inferring the vial temperature from the PCB's cooling curve with a
 * physical model. Only a backend that knows them (the simulator) sets them; real units rely on
 * the original's regression, which was trained on real PCBs.
 */
export interface HeatingThermalConstants {
  pcbHeatCapacityJPerK: number;
  /** Vial glass and holder; the liquid adds 4.18 J/K per mL. */
  vialDryHeatCapacityJPerK: number;
  pcbToVialWPerK: number;
  pcbToAmbientWPerK: number;
  vialToAmbientWPerK: number;
}

/** Everything a unit's jobs need from the hardware, resolved from its description. */
export interface HardwareBackend {
  readonly map: HardwareMap;
  /** PWM output for a HAT channel ("1".."5"), resolved to a pin through the description. */
  pwm(channel: PwmChannel, frequencyHz: number): Pwm;
  /** PWM output on a raw GPIO pin (for plugins driving pins outside the channel map). */
  pwmOnPin(pin: GpioPin, frequencyHz: number): Pwm;
  /** The heater's PWM (the description's `heater_pwm_channel`). The original runs it at 16 Hz. */
  heater(frequencyHz?: number): Pwm;
  readonly adc: Adc;
  readonly ledDriver: LedDriver;
  /** Hall sensor edges for stirring RPM. */
  readonly rpmSensor: GpioEdgeSource;
  readonly tempSensor: TempSensor;
  readonly eeprom: Eeprom;
  /** Set when the backend knows its heating PCB's thermal constants (see HeatingThermalConstants). */
  readonly heatingThermal?: HeatingThermalConstants;
  /** Zero-length write acknowledged (the original's `is_i2c_device_present`). */
  isI2cDevicePresent(address: number): Promise<boolean>;
  /** Release buses and handles. PWM outputs are cleaned up by their owners. */
  close(): Promise<void>;
}

/** The heater's default PWM frequency in the original (software PWM on GPIO 18). */
export const HEATER_PWM_HZ = 16;

export function clampPercent(value: number): number {
  if (Number.isNaN(value)) throw new RangeError("duty cycle / intensity is NaN");
  return Math.min(100, Math.max(0, value));
}
