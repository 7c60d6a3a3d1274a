/**
 * The HAT's PCB LED and push button, through the backend's shared lg gpiochip. Wired as the
 * original wires them: the LED line is an output driven low at start; the button line is an
 * input with the pull-down on, alerting on both edges, so level 1 means "pressed" and level 0
 * "released". Like the original, edges are not debounced: consumers must treat a repeated level
 * as idempotent.
 */

import { HardwareError } from "../errors";
import type { GpioPin } from "../ports";
import type { LgpioAlert, LgpioChip } from "./lgpio";

/** lg's pull-down flag and both-edges constant (lgpio.h). */
export const LG_SET_PULL_DOWN = 64;
export const LG_BOTH_EDGES = 3;

export interface PcbLedButton {
  readonly ledPin: GpioPin;
  readonly buttonPin: GpioPin;
  setLed(on: boolean): void;
  /** `listener(true)` on press, `listener(false)` on release. Returns the unsubscribe function. */
  onButton(listener: (down: boolean) => void): () => void;
  /** LED off, both lines freed. */
  close(): Promise<void>;
}

/** A backend that can hand out the PCB LED and button (the Pi backend; the simulator has none). */
export interface HasPcbLedButton {
  /** Claims the lines; `button: false` leaves the button line alone (`[monitor.config] enable_button`). */
  pcbLedButton(opts: { button: boolean }): PcbLedButton;
}

export function hasPcbLedButton(backend: object | undefined): backend is HasPcbLedButton {
  return backend !== undefined && typeof (backend as Partial<HasPcbLedButton>).pcbLedButton === "function";
}

function claimError(what: string, pin: GpioPin, err: unknown): HardwareError {
  return new HardwareError(`${what} GPIO ${pin} (lgpio): ${(err as Error).message ?? String(err)}.`);
}

export class LgpioPcbLedButton implements PcbLedButton {
  private readonly listeners = new Set<(down: boolean) => void>();
  private ledClaimed = false;
  private buttonClaimed = false;

  constructor(
    private readonly chip: LgpioChip,
    readonly ledPin: GpioPin,
    readonly buttonPin: GpioPin,
  ) {}

  /** Claims the LED (low) and, when asked, the button; on failure nothing stays claimed. */
  open(opts: { button: boolean }): this {
    const { lg, handle } = this.chip.open();
    try {
      lg.gpioClaimOutput(handle, this.ledPin, 0, false);
    } catch (err) {
      throw claimError("Claiming the PCB LED output on", this.ledPin, err);
    }
    this.ledClaimed = true;
    if (!opts.button) return this;
    try {
      lg.gpioClaimAlert(handle, LG_SET_PULL_DOWN, LG_BOTH_EDGES, this.buttonPin);
      this.buttonClaimed = true;
      lg.gpioSetAlertsFunc(handle, this.buttonPin, (alerts) => this.dispatch(alerts));
    } catch (err) {
      this.releaseQuietly();
      throw claimError("Claiming the PCB button input on", this.buttonPin, err);
    }
    return this;
  }

  setLed(on: boolean): void {
    if (!this.ledClaimed) return;
    const { lg, handle } = this.chip.open();
    lg.gpioWrite(handle, this.ledPin, on);
  }

  onButton(listener: (down: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private dispatch(alerts: LgpioAlert[]): void {
    for (const { report } of alerts) {
      // Level 2 is lg's watchdog report, not an edge.
      if (report.gpio !== this.buttonPin || (report.level !== 0 && report.level !== 1)) continue;
      for (const l of this.listeners) l(report.level === 1);
    }
  }

  private releaseQuietly(): void {
    try {
      this.release();
    } catch {
      // Already failing; the caller reports the first error.
    }
  }

  private release(): void {
    this.listeners.clear();
    if (!this.ledClaimed && !this.buttonClaimed) return;
    const { lg, handle } = this.chip.open();
    if (this.ledClaimed) {
      this.ledClaimed = false;
      lg.gpioWrite(handle, this.ledPin, false);
      lg.gpioFree(handle, this.ledPin);
    }
    if (this.buttonClaimed) {
      this.buttonClaimed = false;
      lg.gpioFree(handle, this.buttonPin);
    }
  }

  async close(): Promise<void> {
    this.release();
  }
}
