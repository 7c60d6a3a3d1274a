/**
 * TI TMP1075 temperature sensor on the heating PCB. Register 0x00 holds the temperature as a
 * 12-bit two's-complement value, left-aligned in 16 bits, 0.0625 °C per count.
 */

import { HardwareError, hex } from "../errors";
import type { TempSensor } from "../ports";
import type { I2cBus } from "./i2c-bus";

export const TMP1075_TEMPERATURE_REGISTER = 0x00;
export const TMP1075_DEGREES_PER_COUNT = 0.0625;

/**
 * The original ignores the sign bit; we decode it (identical above 0 °C, correct below, where a
 * cold-room unit would otherwise read ~256 °C and trip the over-temperature shutdown).
 */
export function decodeTmp1075(msb: number, lsb: number): number {
  let counts = (msb << 4) | (lsb >> 4);
  if (counts & 0x800) counts -= 0x1000;
  return counts * TMP1075_DEGREES_PER_COUNT;
}

export class Tmp1075 implements TempSensor {
  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
  ) {}

  async readCelsius(): Promise<number> {
    const b = await this.bus.writeThenRead(this.address, Uint8Array.of(TMP1075_TEMPERATURE_REGISTER), 2);
    if (b.length < 2) throw new HardwareError(`TMP1075 at ${hex(this.address)} returned ${b.length} bytes`);
    return decodeTmp1075(b[0], b[1]);
  }
}
