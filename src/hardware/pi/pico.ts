/**
 * The HAT's RP2040 microcontroller (firmware "pico-build"), one I²C device that is both the LED
 * driver and an ADC. Register map:
 *   0..3  write one byte: LED channel A..D duty (8-bit)
 *   4..7  write the register, read 2 bytes little-endian unsigned: analog input 0..3
 *   8     write the register, read 2 bytes: firmware [minor, major]
 */

import type { AdcInputDescription } from "../hardware-map";
import { picoRawToVolts, picoScaleForFirmware, picoVoltsToRaw } from "../adc-conversion";
import { HardwareError, hex } from "../errors";
import { type AdcInput, clampPercent, type LedChannel, type LedDriver } from "../ports";
import type { I2cBus } from "./i2c-bus";

export const PICO_LED_REGISTER: Record<LedChannel, number> = { A: 0, B: 1, C: 2, D: 3 };
export const PICO_ADC_REGISTER_OFFSET = 4;
export const PICO_FIRMWARE_REGISTER = 8;

export async function readPicoFirmwareVersion(bus: I2cBus, address: number): Promise<[number, number]> {
  const b = await bus.writeThenRead(address, Uint8Array.of(PICO_FIRMWARE_REGISTER), 2);
  if (b.length < 2) throw new HardwareError(`HAT MCU at ${hex(address)} returned ${b.length} bytes for its firmware version`);
  return [b[1], b[0]];
}

/** Intensity % → the 8-bit duty the firmware expects. */
export function picoLedDuty(percent: number): number {
  return Math.round((clampPercent(percent) / 100) * 255);
}

export class PicoLedDriver implements LedDriver {
  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
  ) {}

  async setIntensity(channel: LedChannel, percent: number): Promise<void> {
    const register = PICO_LED_REGISTER[channel];
    if (register === undefined) throw new RangeError(`LED channel must be A, B, C or D, got ${channel}`);
    await this.bus.write(this.address, Uint8Array.of(register, picoLedDuty(percent)));
  }
}

export class PicoAdcInput implements AdcInput {
  readonly driver = "pico" as const;
  readonly gain = 1;
  readonly hasGain = false;
  readonly name: string;
  readonly address: number;
  readonly channel: number;
  private scale: number | undefined;

  /** `firmware` skips the version read (env FIRMWARE in the original). */
  constructor(
    private readonly bus: I2cBus,
    description: AdcInputDescription,
    firmware?: readonly [number, number],
  ) {
    this.name = description.name;
    this.address = description.address;
    this.channel = description.channel;
    if (this.channel < 0 || this.channel > 3) throw new RangeError(`HAT MCU ADC has inputs 0..3, got ${this.channel}`);
    if (firmware) this.scale = picoScaleForFirmware(firmware);
  }

  /** Needed before raw↔volt conversions when no firmware version was given. */
  async init(): Promise<void> {
    if (this.scale === undefined) this.scale = picoScaleForFirmware(await readPicoFirmwareVersion(this.bus, this.address));
  }

  private requireScale(): number {
    if (this.scale === undefined) {
      throw new HardwareError(`${this.name}: HAT MCU firmware version unknown; call init() or read once before converting`);
    }
    return this.scale;
  }

  async readRaw(): Promise<number> {
    await this.init();
    const b = await this.bus.writeThenRead(this.address, Uint8Array.of(PICO_ADC_REGISTER_OFFSET + this.channel), 2);
    if (b.length < 2) throw new HardwareError(`${this.name}: HAT MCU at ${hex(this.address)} returned ${b.length} bytes`);
    return b[0] | (b[1] << 8);
  }

  rawToVolts(raw: number): number {
    return picoRawToVolts(raw, this.requireScale());
  }

  voltsToRaw(volts: number): number {
    return picoVoltsToRaw(volts, this.requireScale());
  }

  async readVolts(): Promise<number> {
    return this.rawToVolts(await this.readRaw());
  }

  async setGain(gain: number): Promise<void> {
    if (gain !== 1) throw new HardwareError(`${this.name}: the HAT MCU ADC has no programmable gain (asked for ${gain})`);
  }

  async adjustGainFor(): Promise<boolean> {
    return false;
  }
}
