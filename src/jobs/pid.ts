/**
 * The original's PID controller (anti-windup on the integral, derivative on measurement, optional
 * smoothing), with the stats it publishes to `pioreactor/<unit>/<exp>/pid_log/<target>` after each update.
 */

export interface PidOptions {
  Kp: number;
  Ki: number;
  Kd: number;
  setpoint: number;
  outputLimits?: [number | null, number | null];
  derivativeSmoothing?: number;
  jobName: string;
  targetName: string;
}

export interface PidStats {
  setpoint: number;
  output_limits_lb: number | null;
  output_limits_ub: number | null;
  Kd: number;
  Ki: number;
  Kp: number;
  integral: number;
  proportional: number;
  derivative: number;
  latest_input: number | null;
  latest_output: number | null;
  job_name: string;
  target_name: string;
}

export class Pid {
  setpoint: number;
  private errorPrev: number | null = null;
  private lastInput: number | null = null;
  private lastOutput: number | null = null;
  private errorSum = 0;
  private derivativePrev = 0;
  private readonly lower: number | null;
  private readonly upper: number | null;
  private readonly smoothing: number;

  constructor(private readonly options: PidOptions) {
    this.setpoint = options.setpoint;
    [this.lower, this.upper] = options.outputLimits ?? [null, null];
    this.smoothing = options.derivativeSmoothing ?? 0;
    if (!(this.smoothing >= 0 && this.smoothing <= 1)) throw new RangeError("derivativeSmoothing must be in [0, 1]");
  }

  reset(): void {
    this.errorPrev = null;
    this.errorSum = 0;
    this.derivativePrev = 0;
  }

  /** One control step; returns the (clamped) output. */
  update(input: number, dt = 1): number {
    const { Kp, Ki, Kd } = this.options;
    const error = this.setpoint - input;
    this.errorSum = this.clamp(this.errorSum + error * dt);
    // Derivative on the measurement avoids a kick when the setpoint changes.
    const raw = this.lastInput === null ? 0 : -(input - this.lastInput) / dt;
    const derivative = (1 - this.smoothing) * raw + this.smoothing * this.derivativePrev;
    this.errorPrev = error;
    this.derivativePrev = derivative;
    const output = this.clamp(Kp * error + Ki * this.errorSum + Kd * derivative);
    this.lastInput = input;
    this.lastOutput = output;
    return output;
  }

  stats(): PidStats {
    const { Kp, Ki, Kd, jobName, targetName } = this.options;
    return {
      setpoint: this.setpoint,
      output_limits_lb: this.lower,
      output_limits_ub: this.upper,
      Kd,
      Ki,
      Kp,
      integral: Ki * this.errorSum,
      proportional: Kp * (this.errorPrev ?? 0),
      derivative: Kd * this.derivativePrev,
      latest_input: this.lastInput,
      latest_output: this.lastOutput,
      job_name: jobName,
      target_name: targetName,
    };
  }

  private clamp(v: number): number {
    let out = v;
    if (this.lower !== null) out = Math.max(out, this.lower);
    if (this.upper !== null) out = Math.min(out, this.upper);
    return out;
  }
}
