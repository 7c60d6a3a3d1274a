/**
 * Hardware PWM through the kernel's sysfs interface (/sys/class/pwm), the way the original's
 * rpi_hardware_pwm does it, in plain `fs` calls: no native addon, and testable against a
 * directory tree. Only GPIO 12 (PWM0) and 13 (PWM1) are wired to the PWM peripheral with the
 * `pwm-2chan` overlay. Times are in nanoseconds.
 */

import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Clock } from "../../util/clock";
import { HardwareError } from "../errors";
import { clampPercent, type GpioPin, type Pwm } from "../ports";

export const SYSFS_PWM_ROOT = "/sys/class/pwm";
export const HARDWARE_PWM_CHANNEL_FOR_PIN: ReadonlyMap<GpioPin, number> = new Map([
  [12, 0],
  [13, 1],
]);

/**
 * The Pi 5 exposes its header PWM as pwmchip2 on kernel 6.6 and as pwmchip0 from 6.12 on; every
 * other Pi uses pwmchip0.
 */
export function hardwarePwmChip(rpiModel: string, kernelRelease: string): number {
  return rpiModel.startsWith("Raspberry Pi 5") && /^6\.6\./.test(kernelRelease) ? 2 : 0;
}

export interface SysfsPwmOptions {
  pin: GpioPin;
  frequencyHz: number;
  chip: number;
  clock: Clock;
  /** Defaults to /sys/class/pwm; tests point it at a temp directory. */
  root?: string;
  /** How long to wait for udev to hand the exported files to the gpio group. */
  exportTimeoutMs?: number;
  /** Every sysfs write goes through this (defaults to fs.promises.writeFile); tests observe the order. */
  writeFile?: (file: string, data: string) => Promise<void>;
}

export function periodNs(frequencyHz: number): number {
  if (!(frequencyHz > 0)) throw new RangeError(`PWM frequency must be positive, got ${frequencyHz}`);
  return Math.round(1e9 / frequencyHz);
}

export class SysfsPwm implements Pwm {
  readonly pin: GpioPin;
  private hz: number;
  private dc = 0;
  private started = false;
  private exported = false;
  private readonly channel: number;
  private readonly chipDir: string;
  private readonly channelDir: string;

  constructor(private readonly opts: SysfsPwmOptions) {
    const channel = HARDWARE_PWM_CHANNEL_FOR_PIN.get(opts.pin);
    if (channel === undefined) {
      throw new HardwareError(
        `GPIO ${opts.pin} has no hardware PWM; only GPIO 12 (PWM0) and 13 (PWM1) do (with the pwm-2chan overlay).`,
      );
    }
    this.pin = opts.pin;
    this.hz = opts.frequencyHz;
    periodNs(this.hz);
    this.channel = channel;
    this.chipDir = path.join(opts.root ?? SYSFS_PWM_ROOT, `pwmchip${opts.chip}`);
    this.channelDir = path.join(this.chipDir, `pwm${channel}`);
  }

  get frequencyHz(): number {
    return this.hz;
  }

  get dutyCycle(): number {
    return this.dc;
  }

  private writeFile(file: string, data: string): Promise<void> {
    return this.opts.writeFile ? this.opts.writeFile(file, data) : fs.writeFile(file, data);
  }

  private async write(file: string, value: string | number): Promise<void> {
    const full = path.join(this.channelDir, file);
    try {
      await this.writeFile(full, String(value));
    } catch (err) {
      throw this.explain(err, full);
    }
  }

  private explain(err: unknown, file: string): HardwareError {
    const e = err as NodeJS.ErrnoException;
    const hint =
      e.code === "ENOENT"
        ? ` Is 'dtoverlay=pwm-2chan' in /boot/firmware/config.txt (reboot after adding it), and is ${this.chipDir} the right chip?`
        : e.code === "EACCES"
          ? " Add the user to the 'gpio' group (udev grants it the PWM files)."
          : "";
    return new HardwareError(`Hardware PWM on GPIO ${this.pin}: cannot write ${file}: ${e.message}.${hint}`, e.code);
  }

  private async exportChannel(): Promise<void> {
    if (this.exported) return;
    const exists = await fs.stat(this.channelDir).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const exportFile = path.join(this.chipDir, "export");
      try {
        await this.writeFile(exportFile, String(this.channel));
      } catch (err) {
        throw this.explain(err, exportFile);
      }
    }
    // udev fixes ownership of the new files shortly after export; retry permission errors briefly.
    const deadline = this.opts.clock.now() + (this.opts.exportTimeoutMs ?? 1000);
    for (let attempt = 1; ; attempt++) {
      try {
        await fs.access(path.join(this.channelDir, "period"), fs.constants.W_OK);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== "EACCES" && code !== "ENOENT") || this.opts.clock.now() >= deadline) {
          throw this.explain(err, path.join(this.channelDir, "period"));
        }
        await this.opts.clock.sleep(50 * attempt);
      }
    }
    this.exported = true;
  }

  private dutyNs(dc: number): number {
    return Math.round((periodNs(this.hz) * dc) / 100);
  }

  async start(initialDutyCycle: number): Promise<void> {
    await this.exportChannel();
    const dc = clampPercent(initialDutyCycle);
    // The kernel rejects a period shorter than the current duty cycle: zero the duty first.
    await this.write("duty_cycle", 0);
    await this.write("period", periodNs(this.hz));
    await this.write("duty_cycle", this.dutyNs(dc));
    await this.write("enable", 1);
    this.dc = dc;
    this.started = true;
  }

  async setDutyCycle(dutyCycle: number): Promise<void> {
    const dc = clampPercent(dutyCycle);
    if (!this.started) {
      if (dc === 0) return;
      throw new HardwareError(`PWM on GPIO ${this.pin}: call start() before setting a duty cycle`);
    }
    await this.write("duty_cycle", this.dutyNs(dc));
    this.dc = dc;
  }

  /** Change frequency keeping the duty cycle (duty zeroed first, as the kernel requires). */
  async setFrequency(frequencyHz: number): Promise<void> {
    periodNs(frequencyHz);
    this.hz = frequencyHz;
    if (!this.started) return;
    await this.write("duty_cycle", 0);
    await this.write("period", periodNs(this.hz));
    await this.write("duty_cycle", this.dutyNs(this.dc));
  }

  async stop(): Promise<void> {
    if (!this.exported) return;
    await this.write("duty_cycle", 0);
    await this.write("enable", 0);
    this.dc = 0;
    this.started = false;
  }

  async cleanup(): Promise<void> {
    if (!this.exported) return;
    await this.stop();
    const unexport = path.join(this.chipDir, "unexport");
    try {
      await this.writeFile(unexport, String(this.channel));
    } catch (err) {
      throw this.explain(err, unexport);
    }
    this.exported = false;
  }
}
