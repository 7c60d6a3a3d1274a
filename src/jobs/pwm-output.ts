/**
 * A job's handle on one PWM pin, with the bookkeeping the original does around it: the unit-wide
 * `pwm_dc` cache (so every process can see what every pin is doing), the retained
 * `pioreactor/<unit>/<exp>/pwms/dc` summary the UI and database read, and the `pwm_locks`
 * soft lock that keeps two jobs from driving the same pin.
 */
import type { Pwm } from "../hardware/ports";
import { formatPyFloat, pythonJsonDumps } from "../util/python-format";
import type { KeyValueCache } from "./local-storage";
import type { Logger } from "./logger";
import type { PidAlive } from "./registry";

export class PwmError extends Error {
  override name = "PwmError";
}

export interface PwmOutputDeps {
  pwm: Pwm;
  unit: string;
  experiment: string;
  /** `cache_pwm_dc` of the unit's intermittent cache. */
  dutyCycles: KeyValueCache;
  /** `cache_pwm_locks` of the unit's intermittent cache. */
  locks: KeyValueCache;
  /** Publishes `pwms/dc` (retained, QoS 0). */
  publish(topic: string, payload: string): void;
  logger: Logger;
  pid: number;
  isAlive: PidAlive;
  /** Distinguishes several outputs in one process (the original uses `id(self)`). */
  ownerTag: string;
}

function lockMessage(pin: number, unit: string): string {
  return `GPIO-${pin} is currently locked but a task is overwriting it. Either too many jobs are trying to access this pin, or a job didn't clean up properly. If your confident you can release it, use \`pio cache purge pwm_locks ${pin} --as-int\` on the command line for ${unit}.`;
}

export class PwmOutput {
  /** The applied duty cycle, rounded to 5 decimals like the original. */
  dutyCycle = 0;
  private cleanedUp = false;
  private readonly lockId: string;

  constructor(private readonly deps: PwmOutputDeps) {
    this.lockId = `${deps.pid}:${deps.ownerTag}`;
    if (this.isLockedByOther()) {
      const msg = lockMessage(this.pin, deps.unit);
      deps.logger.error(msg);
      throw new PwmError(msg);
    }
    deps.logger.debug(
      `Initialized GPIO-${this.pin} using software-timing, initial frequency = ${formatPyFloat(deps.pwm.frequencyHz)} hz.`,
    );
  }

  get pin(): number {
    return this.deps.pwm.pin;
  }

  get isCleanedUp(): boolean {
    return this.cleanedUp;
  }

  async start(dutyCycle: number): Promise<void> {
    checkRange(dutyCycle);
    await this.deps.pwm.start(dutyCycle);
    this.dutyCycle = round5(dutyCycle);
    this.serialise();
  }

  async changeDutyCycle(dutyCycle: number): Promise<void> {
    if (this.cleanedUp) throw new PwmError(`GPIO-${this.pin} was already cleaned up`);
    checkRange(dutyCycle);
    await this.deps.pwm.setDutyCycle(dutyCycle);
    this.dutyCycle = round5(dutyCycle);
    this.serialise();
  }

  async stop(): Promise<void> {
    if (this.cleanedUp) return;
    await this.deps.pwm.stop();
    if (this.dutyCycle === 0) return;
    this.dutyCycle = 0;
    this.serialise();
  }

  lock(): void {
    const owner = this.deps.locks.getString(this.pin);
    if (owner !== undefined && owner !== this.lockId && this.ownerAlive(owner)) {
      throw new PwmError(lockMessage(this.pin, this.deps.unit));
    }
    this.deps.locks.set(this.pin, this.lockId);
  }

  unlock(): void {
    if (this.deps.locks.getString(this.pin) === this.lockId) this.deps.locks.delete(this.pin);
  }

  async cleanup(): Promise<void> {
    if (this.cleanedUp) return;
    try {
      await this.stop();
    } finally {
      this.cleanedUp = true;
      await this.deps.pwm.cleanup().catch(() => undefined);
      this.unlock();
      this.deps.dutyCycles.delete(this.pin);
      this.deps.logger.debug(`Cleaned up GPIO-${this.pin}.`);
    }
  }

  /** A lock left by a process that no longer exists (killed with -9) is not honoured. */
  private isLockedByOther(): boolean {
    const owner = this.deps.locks.getString(this.pin);
    return owner !== undefined && owner !== this.lockId && this.ownerAlive(owner);
  }

  private ownerAlive(owner: string): boolean {
    const pid = Number(owner.split(":")[0]);
    if (!Number.isInteger(pid) || pid <= 0) return true;
    return this.deps.isAlive(pid);
  }

  /** Own pin first, then every other non-zero pin in the cache, as the original's dict is built. */
  private serialise(): void {
    const current = new Map<string, number>();
    if (this.dutyCycle > 0) {
      current.set(String(this.pin), this.dutyCycle);
      this.deps.dutyCycles.set(this.pin, this.dutyCycle);
    } else {
      this.deps.dutyCycles.delete(this.pin);
    }
    for (const [pin, value] of this.deps.dutyCycles.entries()) {
      if (Number(pin) === this.pin) continue;
      const dc = Number(value);
      if (dc !== 0 && Number.isFinite(dc)) current.set(String(pin), dc);
    }
    this.deps.publish(`pioreactor/${this.deps.unit}/${this.deps.experiment}/pwms/dc`, pythonJsonDumps(current));
  }
}

function checkRange(dc: number): void {
  if (!(dc >= 0 && dc <= 100)) throw new PwmError("duty_cycle should be between 0 and 100, inclusive.");
}

function round5(v: number): number {
  return Math.round(v * 1e5) / 1e5;
}
