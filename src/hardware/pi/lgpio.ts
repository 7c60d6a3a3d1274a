/**
 * GPIO lines through the kernel's character device (/dev/gpiochipN) with the `lg` library, the
 * way the original drives every pin without hardware PWM: software-timed PWM for the stirring
 * motor (GPIO 17, 200 Hz), a pump (GPIO 16) and the heater (GPIO 18, 16 Hz), and timestamped
 * edge alerts for the stirring hall sensor. `lg` runs the PWM timing on its own thread, so the
 * Node event loop only sends duty-cycle changes. It works on every Pi including the Pi 5 (RP1),
 * unlike pigpio.
 *
 * The binding is the optional native npm package `lgpio` (over the C library liblgpio), loaded
 * only when a pin needs it; tests inject a fake of the same interface.
 */

import { HardwareError } from "../errors";
import { clampPercent, type GpioEdgeSource, type GpioPin, type Pwm } from "../ports";

/** One alert as the `lgpio` package reports it: `timestamp` in ns since the epoch, `level` 0/1 (2 = watchdog). */
export interface LgpioAlert {
  report: { timestamp: bigint; chip: number; gpio: number; level: number; flags: number };
}

/** The subset of the `lgpio` npm package used here (its functions throw on a negative lg status). */
export interface LgpioBinding {
  gpiochipOpen(gpioDev: number): number;
  gpiochipClose(handle: number): void;
  gpioClaimOutput(handle: number, gpio: number, flags?: number, level?: boolean): void;
  gpioClaimAlert(handle: number, flags: number, edges: number, gpio: number, nfyHandle?: number): void;
  gpioSetAlertsFunc(handle: number, gpio: number, callback: (alerts: LgpioAlert[]) => void): void;
  gpioWrite(handle: number, gpio: number, level: boolean): void;
  gpioFree(handle: number, gpio: number): void;
  /** Returns the room left in the pin's PWM queue. */
  txPwm(handle: number, gpio: number, pwmFrequency: number, pwmDutyCycle: number, pwmOffset?: number, pwmCycles?: number): number;
}

/** lg's flag and edge constants (lgpio.h). */
export const LG_SET_PULL_UP = 32;
export const LG_FALLING_EDGE = 2;
/** lg's software PWM range. */
export const LG_PWM_MIN_HZ = 0.1;
export const LG_PWM_MAX_HZ = 10_000;

export const LGPIO_INSTALL_HINT =
  "Install the lg C library and its Node binding on the Pioreactor: `sudo apt install liblgpio-dev` " +
  "(or build lg from https://abyz.me.uk/lg/), then `npm install lgpio` in the pioreactor-ts directory " +
  "(it compiles a small addon; needs build-essential).";

/** Loads `lgpio` on demand; a missing addon becomes an error that names the package, why it is needed and how to install it. */
export function loadLgpio(requireFn: (id: string) => unknown = require, purpose = "GPIO lines"): LgpioBinding {
  try {
    return requireFn("lgpio") as LgpioBinding;
  } catch (err) {
    throw new HardwareError(
      `${purpose} need the optional native package 'lgpio', which could not be loaded (${(err as Error).message}). ` +
        `${LGPIO_INSTALL_HINT} Or run with TESTING=1 / PIOREACTOR_HARDWARE=sim to use the simulator.`,
      "MODULE_NOT_FOUND",
    );
  }
}

/** The gpiochip holding the 40-pin header: 4 on a Raspberry Pi 5 (RP1), else 0 — the original's rule. */
export function headerGpiochip(rpiModel: string): number {
  return rpiModel.startsWith("Raspberry Pi 5") ? 4 : 0;
}

/**
 * One open gpiochip shared by every line of a backend. The binding is loaded and the chip opened
 * on first use, so a unit that only uses I²C and hardware PWM never needs `lgpio`.
 */
export class LgpioChip {
  private opened: { lg: LgpioBinding; handle: number } | undefined;

  constructor(
    private readonly load: () => LgpioBinding,
    readonly chipNumber: number,
  ) {}

  /** Binding and chip handle; throws the loader's install hint, or names the device that failed to open. */
  open(): { lg: LgpioBinding; handle: number } {
    if (this.opened) return this.opened;
    const lg = this.load();
    let handle: number;
    try {
      handle = lg.gpiochipOpen(this.chipNumber);
    } catch (err) {
      throw new HardwareError(
        `Cannot open /dev/gpiochip${this.chipNumber}: ${(err as Error).message}. ` +
          "Add the user to the 'gpio' group, and check the chip number (4 on a Raspberry Pi 5, 0 otherwise).",
      );
    }
    this.opened = { lg, handle };
    return this.opened;
  }

  get isOpen(): boolean {
    return this.opened !== undefined;
  }

  close(): void {
    if (!this.opened) return;
    const { lg, handle } = this.opened;
    this.opened = undefined;
    lg.gpiochipClose(handle);
  }
}

function lineError(what: string, pin: GpioPin, err: unknown): HardwareError {
  const message = (err as Error).message ?? String(err);
  const hint = /busy/i.test(message)
    ? " Another process (or a kernel driver such as the pwm overlay) holds this line; stop it or check `pinctrl get " + pin + "`."
    : "";
  return new HardwareError(`${what} on GPIO ${pin} (lgpio): ${message}.${hint}`);
}

/** Software-timed PWM on any header pin (the original's `SoftwarePWMOutputDevice`). */
export class LgpioSoftwarePwm implements Pwm {
  private dc = 0;
  private started = false;
  private claimed = false;

  constructor(
    private readonly chip: LgpioChip,
    readonly pin: GpioPin,
    readonly frequencyHz: number,
  ) {
    if (!(frequencyHz >= LG_PWM_MIN_HZ && frequencyHz <= LG_PWM_MAX_HZ)) {
      throw new HardwareError(
        `Software PWM on GPIO ${pin}: frequency must be ${LG_PWM_MIN_HZ}..${LG_PWM_MAX_HZ} Hz, got ${frequencyHz}.`,
      );
    }
  }

  get dutyCycle(): number {
    return this.dc;
  }

  private claim(): { lg: LgpioBinding; handle: number } {
    const opened = this.chip.open();
    if (!this.claimed) {
      try {
        opened.lg.gpioClaimOutput(opened.handle, this.pin, 0, false);
      } catch (err) {
        throw lineError("Claiming output", this.pin, err);
      }
      this.claimed = true;
    }
    return opened;
  }

  private send(dc: number): void {
    const { lg, handle } = this.claim();
    try {
      lg.txPwm(handle, this.pin, this.frequencyHz, dc);
    } catch (err) {
      throw lineError(`Setting software PWM to ${dc}% at ${this.frequencyHz} Hz`, this.pin, err);
    }
  }

  async start(initialDutyCycle: number): Promise<void> {
    const dc = clampPercent(initialDutyCycle);
    this.send(dc);
    this.dc = dc;
    this.started = true;
  }

  async setDutyCycle(dutyCycle: number): Promise<void> {
    const dc = clampPercent(dutyCycle);
    if (!this.started) {
      if (dc === 0) return;
      throw new HardwareError(`PWM on GPIO ${this.pin}: call start() before setting a duty cycle`);
    }
    this.send(dc);
    this.dc = dc;
  }

  async stop(): Promise<void> {
    if (!this.claimed) return;
    this.send(0);
    // A 0 % PWM entry takes effect at the end of the current cycle; force the line low now.
    const { lg, handle } = this.claim();
    try {
      lg.gpioWrite(handle, this.pin, false);
    } catch (err) {
      throw lineError("Driving low", this.pin, err);
    }
    this.dc = 0;
    this.started = false;
  }

  async cleanup(): Promise<void> {
    if (!this.claimed) return;
    await this.stop();
    const { lg, handle } = this.claim();
    this.claimed = false;
    try {
      lg.gpioFree(handle, this.pin);
    } catch (err) {
      throw lineError("Releasing", this.pin, err);
    }
  }
}

/**
 * Falling edges of an input with the pull-up on (the stirring hall sensor), timestamped by the
 * kernel: lg reports nanoseconds since the epoch, turned into fractional milliseconds here.
 */
export class LgpioEdgeSource implements GpioEdgeSource {
  private readonly listeners = new Set<(timestampMs: number) => void>();
  private claimed = false;

  constructor(
    private readonly chip: LgpioChip,
    readonly pin: GpioPin,
  ) {}

  onEdge(listener: (timestampMs: number) => void): () => void {
    if (!this.claimed) this.claim();
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private claim(): void {
    const { lg, handle } = this.chip.open();
    try {
      lg.gpioClaimAlert(handle, LG_SET_PULL_UP, LG_FALLING_EDGE, this.pin);
      lg.gpioSetAlertsFunc(handle, this.pin, (alerts) => this.dispatch(alerts));
    } catch (err) {
      throw lineError("Claiming edge alerts", this.pin, err);
    }
    this.claimed = true;
  }

  private dispatch(alerts: LgpioAlert[]): void {
    for (const { report } of alerts) {
      if (report.gpio !== this.pin || report.level !== 0) continue;
      // Via microseconds: ns since the epoch do not fit a double exactly, µs do.
      const ms = Number(report.timestamp / 1000n) / 1000;
      for (const l of this.listeners) l(ms);
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    if (!this.claimed) return;
    this.claimed = false;
    const { lg, handle } = this.chip.open();
    lg.gpioFree(handle, this.pin);
  }
}
