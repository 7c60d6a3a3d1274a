import { I2cError } from "../../src/hardware/errors";
import type { I2cBus } from "../../src/hardware/pi/i2c-bus";

export type Transfer =
  | { op: "write"; address: number; bytes: number[] }
  | { op: "read"; address: number; length: number }
  | { op: "writeThenRead"; address: number; bytes: number[]; length: number };

/** Answers a read (after an optional pointer write) for one device. */
export type Responder = (written: number[], length: number) => number[];

/** Records every transfer; devices answer through responders; errors can be injected per address. */
export class FakeI2cBus implements I2cBus {
  readonly transfers: Transfer[] = [];
  private readonly responders = new Map<number, Responder>();
  private readonly failures = new Map<number, { code: string; remaining: number }>();
  closed = false;

  device(address: number, responder: Responder): this {
    this.responders.set(address, responder);
    return this;
  }

  /** The next `times` transfers to `address` throw like an unanswered device (EREMOTEIO). */
  fail(address: number, times = Number.POSITIVE_INFINITY, code = "EREMOTEIO"): this {
    this.failures.set(address, { code, remaining: times });
    return this;
  }

  writes(address?: number): number[][] {
    return this.transfers
      .filter((t): t is Extract<Transfer, { op: "write" }> => t.op === "write" && (address === undefined || t.address === address))
      .map((t) => t.bytes);
  }

  private check(address: number): void {
    const f = this.failures.get(address);
    if (f && f.remaining > 0) {
      f.remaining--;
      throw new I2cError(`fake: no ACK from 0x${address.toString(16)}`, address, f.code);
    }
    if (!this.responders.has(address)) throw new I2cError(`fake: nothing at 0x${address.toString(16)}`, address, "EREMOTEIO");
  }

  async write(address: number, bytes: Uint8Array): Promise<void> {
    this.transfers.push({ op: "write", address, bytes: [...bytes] });
    this.check(address);
  }

  async read(address: number, length: number): Promise<Uint8Array> {
    this.transfers.push({ op: "read", address, length });
    this.check(address);
    return Uint8Array.from(this.responders.get(address)!([], length));
  }

  async writeThenRead(address: number, bytes: Uint8Array, length: number): Promise<Uint8Array> {
    this.transfers.push({ op: "writeThenRead", address, bytes: [...bytes], length });
    this.check(address);
    return Uint8Array.from(this.responders.get(address)!([...bytes], length));
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A device modelled as 8-bit-addressed registers holding byte arrays. */
export function registerDevice(registers: Record<number, number[]>): Responder {
  return (written, length) => {
    const reg = written[0];
    const value = registers[reg];
    if (value === undefined) throw new Error(`fake device: no register ${reg}`);
    return value.slice(0, length);
  };
}
