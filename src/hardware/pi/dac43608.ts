/**
 * TI DAC43608 LED driver on HAT 1.0. Output registers A..D are 8..11 and take a 16-bit
 * big-endian word whose top 8 data bits sit at [11:4]. The config register (1) holds one
 * power-down bit per output (bit n for register 8 + n; 1 = powered down); it is updated
 * read-modify-write so other channels keep their state.
 */

import { clampPercent, type LedChannel, type LedDriver } from "../ports";
import type { I2cBus } from "./i2c-bus";

export const DAC43608_CONFIG_REGISTER = 0x01;
export const DAC43608_OUTPUT_REGISTER: Record<LedChannel, number> = { A: 8, B: 9, C: 10, D: 11 };

export function dac43608Word(percent: number): number {
  return Math.round((clampPercent(percent) / 100) * 255) << 4;
}

export class Dac43608LedDriver implements LedDriver {
  constructor(
    private readonly bus: I2cBus,
    readonly address: number,
  ) {}

  private async writeRegister(register: number, word: number): Promise<void> {
    await this.bus.write(this.address, Uint8Array.of(register, (word >> 8) & 0xff, word & 0xff));
  }

  private async setPoweredDown(register: number, poweredDown: boolean): Promise<void> {
    const b = await this.bus.writeThenRead(this.address, Uint8Array.of(DAC43608_CONFIG_REGISTER), 2);
    const config = (b[0] << 8) | b[1];
    const bit = 1 << (register - 8);
    const next = poweredDown ? config | bit : config & ~bit;
    if (next !== config) await this.writeRegister(DAC43608_CONFIG_REGISTER, next & 0xffff);
  }

  async setIntensity(channel: LedChannel, percent: number): Promise<void> {
    const register = DAC43608_OUTPUT_REGISTER[channel];
    if (register === undefined) throw new RangeError(`LED channel must be A, B, C or D, got ${channel}`);
    if (clampPercent(percent) === 0) {
      await this.setPoweredDown(register, true);
      return;
    }
    await this.setPoweredDown(register, false);
    await this.writeRegister(register, dac43608Word(percent));
  }
}
