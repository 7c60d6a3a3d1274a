/**
 * Hardware failures a user can act on. Every message says which device, file or package is at
 * fault and what to do about it, because these errors surface in logs on a headless Pi.
 */

export class HardwareError extends Error {
  constructor(
    message: string,
    /** errno-style code when the failure came from the OS (EREMOTEIO, ENOENT, EACCES …). */
    readonly code?: string,
  ) {
    super(message);
    this.name = "HardwareError";
  }
}

/** A hardware description YAML file is missing, unreadable or lacks a required key. */
export class HardwareDescriptionError extends HardwareError {
  constructor(
    message: string,
    /** The file (or files, for a merged description) at fault. */
    readonly files: readonly string[],
  ) {
    super(message);
    this.name = "HardwareDescriptionError";
  }
}

/** An I²C transfer failed: the device did not answer, or answered garbage. */
export class I2cError extends HardwareError {
  constructor(
    message: string,
    readonly address: number,
    code?: string,
  ) {
    super(message, code);
    this.name = "I2cError";
  }
}

export function hex(address: number): string {
  return `0x${address.toString(16).padStart(2, "0")}`;
}
