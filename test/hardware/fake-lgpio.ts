import type { LgpioAlert, LgpioBinding } from "../../src/hardware/pi/lgpio";

/**
 * A fake of the `lgpio` binding that keeps what lg would: which chips are open, which lines are
 * claimed and how, each output's level and PWM setting, and the alert callbacks. Misuse throws
 * like lg does (negative status → Error), e.g. driving an unclaimed line or claiming a busy one.
 */
export class FakeLgpio implements LgpioBinding {
  readonly calls: string[] = [];
  readonly openChips = new Map<number, number>();
  /** gpio → how it is claimed. */
  readonly lines = new Map<number, "output" | "alert">();
  readonly levels = new Map<number, boolean>();
  readonly pwm = new Map<number, { hz: number; dc: number }>();
  readonly alertFlags = new Map<number, { flags: number; edges: number }>();
  private readonly alertCallbacks = new Map<number, (alerts: LgpioAlert[]) => void>();
  private nextHandle = 0;
  /** Lines another process holds. */
  readonly busy = new Set<number>();

  private checkHandle(handle: number): void {
    if (![...this.openChips.values()].includes(handle)) throw new Error("bad gpiochip handle");
  }

  gpiochipOpen(gpioDev: number): number {
    this.calls.push(`gpiochipOpen(${gpioDev})`);
    const handle = this.nextHandle++;
    this.openChips.set(gpioDev, handle);
    return handle;
  }
  gpiochipClose(handle: number): void {
    this.calls.push(`gpiochipClose(${handle})`);
    for (const [dev, h] of this.openChips) if (h === handle) this.openChips.delete(dev);
  }
  gpioClaimOutput(handle: number, gpio: number, flags = 0, level = false): void {
    this.calls.push(`gpioClaimOutput(${gpio}, flags=${flags}, level=${level})`);
    this.checkHandle(handle);
    if (this.busy.has(gpio)) throw new Error("GPIO busy");
    this.lines.set(gpio, "output");
    this.levels.set(gpio, level);
  }
  gpioClaimAlert(handle: number, flags: number, edges: number, gpio: number): void {
    this.calls.push(`gpioClaimAlert(${gpio}, flags=${flags}, edges=${edges})`);
    this.checkHandle(handle);
    this.lines.set(gpio, "alert");
    this.alertFlags.set(gpio, { flags, edges });
  }
  gpioSetAlertsFunc(handle: number, gpio: number, callback: (alerts: LgpioAlert[]) => void): void {
    this.calls.push(`gpioSetAlertsFunc(${gpio})`);
    this.checkHandle(handle);
    this.alertCallbacks.set(gpio, callback);
  }
  gpioWrite(handle: number, gpio: number, level: boolean): void {
    this.calls.push(`gpioWrite(${gpio}, ${level})`);
    this.checkHandle(handle);
    if (this.lines.get(gpio) !== "output") throw new Error("GPIO not allocated");
    this.pwm.delete(gpio);
    this.levels.set(gpio, level);
  }
  gpioFree(handle: number, gpio: number): void {
    this.calls.push(`gpioFree(${gpio})`);
    this.checkHandle(handle);
    if (!this.lines.has(gpio)) throw new Error("GPIO not allocated");
    this.lines.delete(gpio);
    this.pwm.delete(gpio);
    this.alertCallbacks.delete(gpio);
  }
  txPwm(handle: number, gpio: number, pwmFrequency: number, pwmDutyCycle: number): number {
    this.calls.push(`txPwm(${gpio}, ${pwmFrequency} Hz, ${pwmDutyCycle}%)`);
    this.checkHandle(handle);
    if (this.lines.get(gpio) !== "output") throw new Error("GPIO not allocated");
    if (pwmDutyCycle < 0 || pwmDutyCycle > 100) throw new Error("bad PWM duty cycle");
    this.pwm.set(gpio, { hz: pwmFrequency, dc: pwmDutyCycle });
    return 9;
  }

  /** lg reports an edge on an alert line (level 0 = falling). */
  edge(gpio: number, level: 0 | 1, timestampNs: bigint): void {
    this.alertCallbacks.get(gpio)?.([{ report: { timestamp: timestampNs, chip: 0, gpio, level, flags: 0 } }]);
  }

}
