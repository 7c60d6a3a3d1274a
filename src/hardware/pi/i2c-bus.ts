/**
 * The I²C operations our device drivers need, as a port. The real adapter wraps the `i2c-bus`
 * package (a native addon, optional, loaded only when a Pi backend is built); tests use a fake
 * that records transfers.
 */

import { I2cError, hex } from "../errors";

export interface I2cBus {
  /** Plain write of `bytes` (a zero-length write is the presence probe). */
  write(address: number, bytes: Uint8Array): Promise<void>;
  /** Plain read of `length` bytes. */
  read(address: number, length: number): Promise<Uint8Array>;
  /** Write `bytes` (usually a register pointer), then read `length` bytes with a repeated start. */
  writeThenRead(address: number, bytes: Uint8Array, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** The subset of the `i2c-bus` package's promisified bus we use (it ships no type declarations). */
interface PromisifiedI2cBus {
  i2cWrite(address: number, length: number, buffer: Buffer): Promise<{ bytesWritten: number; buffer: Buffer }>;
  i2cRead(address: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  readI2cBlock(address: number, cmd: number, length: number, buffer: Buffer): Promise<{ bytesRead: number; buffer: Buffer }>;
  close(): Promise<void>;
}

interface I2cBusModule {
  openPromisified(busNumber: number): Promise<PromisifiedI2cBus>;
}

/** Loads `i2c-bus` on demand; a missing addon becomes an error that says what to install and why. */
export function loadI2cBusModule(requireFn: (id: string) => unknown = require): I2cBusModule {
  try {
    return requireFn("i2c-bus") as I2cBusModule;
  } catch (err) {
    throw new I2cError(
      "The Pi hardware backend needs the optional native package 'i2c-bus' to talk to the HAT " +
        `(LEDs, photodiode ADCs, heater temperature), but it could not be loaded (${(err as Error).message}). ` +
        "Run `npm install i2c-bus` on the Pioreactor (it compiles a small addon; needs build-essential), " +
        "or run with TESTING=1 / --fake-data to use the simulator.",
      -1,
      "MODULE_NOT_FOUND",
    );
  }
}

function wrapError(err: unknown, address: number, what: string, busNumber: number): I2cError {
  const e = err as NodeJS.ErrnoException;
  const hint =
    e.code === "ENOENT"
      ? ` /dev/i2c-${busNumber} does not exist: enable I2C (raspi-config) and reboot.`
      : e.code === "EACCES"
        ? ` No permission on /dev/i2c-${busNumber}: add the user to the 'i2c' group.`
        : " Is the HAT attached and its firmware loaded?";
  return new I2cError(`I2C ${what} at ${hex(address)} on bus ${busNumber} failed: ${e.message}.${hint}`, address, e.code);
}

/** `I2cBus` over the `i2c-bus` package. Open with `openI2cBus(1)`. */
export class NodeI2cBus implements I2cBus {
  constructor(
    private readonly bus: PromisifiedI2cBus,
    readonly busNumber: number,
  ) {}

  async write(address: number, bytes: Uint8Array): Promise<void> {
    try {
      await this.bus.i2cWrite(address, bytes.length, Buffer.from(bytes));
    } catch (err) {
      throw wrapError(err, address, "write", this.busNumber);
    }
  }

  async read(address: number, length: number): Promise<Uint8Array> {
    const buf = Buffer.alloc(length);
    try {
      const { bytesRead } = await this.bus.i2cRead(address, length, buf);
      return new Uint8Array(buf.subarray(0, bytesRead));
    } catch (err) {
      throw wrapError(err, address, "read", this.busNumber);
    }
  }

  async writeThenRead(address: number, bytes: Uint8Array, length: number): Promise<Uint8Array> {
    const buf = Buffer.alloc(length);
    try {
      if (bytes.length === 1) {
        // SMBus "I2C block read" is exactly: write the register byte, repeated start, read n bytes.
        const { bytesRead } = await this.bus.readI2cBlock(address, bytes[0], length, buf);
        return new Uint8Array(buf.subarray(0, bytesRead));
      }
      await this.bus.i2cWrite(address, bytes.length, Buffer.from(bytes));
      const { bytesRead } = await this.bus.i2cRead(address, length, buf);
      return new Uint8Array(buf.subarray(0, bytesRead));
    } catch (err) {
      throw wrapError(err, address, "write-then-read", this.busNumber);
    }
  }

  close(): Promise<void> {
    return this.bus.close();
  }
}

export async function openI2cBus(busNumber = 1, requireFn?: (id: string) => unknown): Promise<NodeI2cBus> {
  const mod = loadI2cBusModule(requireFn);
  try {
    return new NodeI2cBus(await mod.openPromisified(busNumber), busNumber);
  } catch (err) {
    throw wrapError(err, 0, "open", busNumber);
  }
}

/** The original's presence test: a zero-length write that the device acknowledges. */
export async function isI2cDevicePresent(bus: I2cBus, address: number): Promise<boolean> {
  try {
    await bus.write(address, new Uint8Array(0));
    return true;
  } catch {
    return false;
  }
}
