/**
 * TI ADS1114 / ADS1115 16-bit ADCs. Registers: 0x00 conversion (big-endian, signed), 0x01 config
 * (big-endian). Config fields: OS [15], MUX [14:12] (ADS1115 only), PGA [11:9], MODE [8]
 * (0 continuous, 1 single-shot), DR [7:5], comparator [4:0] (0b00011 = disabled).
 *
 * ADS1114 (one input, one chip per photodiode on v1.5 models): continuous mode, configured once,
 * read at most once per conversion period. ADS1115 (HAT 1.0, four inputs shared by several
 * readers): single-shot per read, since each read may select a different input.
 */

import type { Clock } from "../../util/clock";
import { adsFullScale, adsGainFor, adsRawToVolts, adsVoltsToRaw, canonicalAdsGain } from "../adc-conversion";
import type { AdcInputDescription } from "../hardware-map";
import { HardwareError, hex } from "../errors";
import type { AdcInput } from "../ports";
import type { I2cBus } from "./i2c-bus";

export const ADS_CONVERSION_REGISTER = 0x00;
export const ADS_CONFIG_REGISTER = 0x01;
export const ADS_SAMPLES_PER_SECOND = 128;
const DATA_RATE_BITS_128_SPS = 0b100;
const COMPARATOR_DISABLED = 0b00011;

const PGA_BITS = new Map<number, number>([
  [2 / 3, 0b000],
  [1, 0b001],
  [2, 0b010],
  [4, 0b011],
  [8, 0b100],
  [16, 0b101],
]);

export function adsConfigWord(opts: { gain: number; singleShot: boolean; mux?: number; startConversion?: boolean }): number {
  const pga = PGA_BITS.get(canonicalAdsGain(opts.gain))!;
  return (
    ((opts.startConversion ? 1 : 0) << 15) |
    ((opts.mux ?? 0) << 12) |
    (pga << 9) |
    ((opts.singleShot ? 1 : 0) << 8) |
    (DATA_RATE_BITS_128_SPS << 5) |
    COMPARATOR_DISABLED
  );
}

function toSigned16(hi: number, lo: number): number {
  const v = (hi << 8) | lo;
  return v & 0x8000 ? v - 0x10000 : v;
}

abstract class Ads111xInput implements AdcInput {
  readonly hasGain = true;
  readonly name: string;
  readonly address: number;
  readonly channel: number;
  protected currentGain = 1;
  protected readonly conversionMs = 1000 / ADS_SAMPLES_PER_SECOND;

  constructor(
    protected readonly bus: I2cBus,
    protected readonly clock: Clock,
    description: AdcInputDescription,
  ) {
    this.name = description.name;
    this.address = description.address;
    this.channel = description.channel;
  }

  abstract readonly driver: "ads1114" | "ads1115";
  abstract readRaw(): Promise<number>;
  abstract setGain(gain: number): Promise<void>;

  get gain(): number {
    return this.currentGain;
  }

  protected async writeConfig(word: number): Promise<void> {
    await this.bus.write(this.address, Uint8Array.of(ADS_CONFIG_REGISTER, (word >> 8) & 0xff, word & 0xff));
  }

  protected async readConversion(): Promise<number> {
    const b = await this.bus.writeThenRead(this.address, Uint8Array.of(ADS_CONVERSION_REGISTER), 2);
    if (b.length < 2) throw new HardwareError(`${this.name}: ${this.driver} at ${hex(this.address)} returned ${b.length} bytes`);
    return toSigned16(b[0], b[1]);
  }

  rawToVolts(raw: number): number {
    return adsRawToVolts(raw, this.currentGain);
  }

  voltsToRaw(volts: number): number {
    return adsVoltsToRaw(volts, this.currentGain);
  }

  /** Full-scale range (± volts) at the current gain. */
  fullScaleVolts(): number {
    return adsFullScale(this.currentGain);
  }

  async readVolts(): Promise<number> {
    return this.rawToVolts(await this.readRaw());
  }

  async adjustGainFor(volts: number, tolerance = 0.85): Promise<boolean> {
    const gain = adsGainFor(volts, tolerance);
    if (gain === undefined || gain === this.currentGain) return false;
    await this.setGain(gain);
    return true;
  }
}

export class Ads1114Input extends Ads111xInput {
  readonly driver = "ads1114" as const;
  private configured = false;
  private nextConversionReadyAt = 0;

  constructor(bus: I2cBus, clock: Clock, description: AdcInputDescription) {
    super(bus, clock, description);
    if (description.channel !== 0) throw new RangeError(`ADS1114 has a single input (channel 0), got ${description.channel}`);
  }

  async setGain(gain: number): Promise<void> {
    const g = canonicalAdsGain(gain);
    await this.writeConfig(adsConfigWord({ gain: g, singleShot: false }));
    this.currentGain = g;
    this.configured = true;
    // The first conversion after reconfiguring may still use the old range: wait a full period.
    this.nextConversionReadyAt = this.clock.now() + this.conversionMs;
  }

  async readRaw(): Promise<number> {
    if (!this.configured) await this.setGain(this.currentGain);
    const wait = this.nextConversionReadyAt - this.clock.now();
    if (wait > 0) await this.clock.sleep(wait);
    const raw = await this.readConversion();
    this.nextConversionReadyAt = this.clock.now() + this.conversionMs;
    return raw;
  }
}

export class Ads1115Input extends Ads111xInput {
  readonly driver = "ads1115" as const;
  /** Conversion-ready polls before giving up (each one conversion period apart). */
  static readonly MAX_POLLS = 10;

  constructor(bus: I2cBus, clock: Clock, description: AdcInputDescription) {
    super(bus, clock, description);
    if (description.channel < 0 || description.channel > 3) throw new RangeError(`ADS1115 has inputs 0..3, got ${description.channel}`);
  }

  async setGain(gain: number): Promise<void> {
    // Applied with the next single-shot conversion.
    this.currentGain = canonicalAdsGain(gain);
  }

  async readRaw(): Promise<number> {
    // MUX 0b100 + n selects input n against ground.
    const word = adsConfigWord({ gain: this.currentGain, singleShot: true, mux: 0b100 + this.channel, startConversion: true });
    await this.writeConfig(word);
    for (let i = 0; i < Ads1115Input.MAX_POLLS; i++) {
      await this.clock.sleep(this.conversionMs);
      const cfg = await this.bus.writeThenRead(this.address, Uint8Array.of(ADS_CONFIG_REGISTER), 2);
      // OS reads back 1 once the conversion is done.
      if (cfg.length >= 1 && (cfg[0] & 0x80) !== 0) return this.readConversion();
    }
    throw new HardwareError(`${this.name}: ADS1115 at ${hex(this.address)} never finished a conversion`);
  }
}
