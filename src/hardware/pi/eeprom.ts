/**
 * HAT identity. The HAT's ID EEPROM is read by the Pi firmware at boot and exposed under
 * /proc/device-tree/hat/ (vendor, product_id, product_ver, uuid), NUL-terminated; the MCU
 * firmware version comes from the MCU itself over I²C.
 */

import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Eeprom, HatIdentity } from "../ports";
import type { I2cBus } from "./i2c-bus";
import { readPicoFirmwareVersion } from "./pico";

export const PIOREACTOR_HAT_VENDOR = "Pioreactor Inc.";
export const PIOREACTOR_HAT_PRODUCT_ID = "0x0001";

async function readNulTerminated(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, "utf8")).replace(/\0+$/, "").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** product_ver ends in two digits: "…12" → "1.2". */
export function hatVersionFromProductVer(text: string): string | null {
  const m = /(\d)(\d)$/.exec(text);
  return m ? `${m[1]}.${m[2]}` : null;
}

export class DeviceTreeEeprom implements Eeprom {
  /**
   * @param hatDir usually /proc/device-tree/hat
   * @param mcuAddress the HAT MCU (the `version` ADC input's address); null on HATs without one
   */
  constructor(
    private readonly hatDir: string,
    private readonly bus: I2cBus | (() => Promise<I2cBus>),
    private readonly mcuAddress: number | null,
  ) {}

  async readHat(): Promise<HatIdentity | null> {
    const vendor = await readNulTerminated(path.join(this.hatDir, "vendor"));
    const productId = await readNulTerminated(path.join(this.hatDir, "product_id"));
    if (vendor === undefined || productId === undefined) return null;
    const productVer = await readNulTerminated(path.join(this.hatDir, "product_ver"));
    const serial = (await readNulTerminated(path.join(this.hatDir, "uuid"))) ?? "00000000-0000-0000-0000-000000000000";
    return {
      vendor,
      productId,
      hatVersion: productVer ? hatVersionFromProductVer(productVer) : null,
      serial,
      isPioreactorHat: vendor === PIOREACTOR_HAT_VENDOR && productId === PIOREACTOR_HAT_PRODUCT_ID,
    };
  }

  async readFirmwareVersion(): Promise<[number, number] | null> {
    if (this.mcuAddress === null) return null;
    const bus = typeof this.bus === "function" ? await this.bus() : this.bus;
    return readPicoFirmwareVersion(bus, this.mcuAddress);
  }
}
