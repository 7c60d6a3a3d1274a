/**
 * A job that can "dodge" OD readings: when `enable_dodging_od` is on and `od_reading` runs, it
 * pauses its disturbance (stirring, bubbling, a light) around each optical measurement, timed
 * from od_reading's `interval` and `first_od_obs_time` in the registry. Otherwise it runs
 * continuously. Subclasses implement the four hooks.
 */
import { BackgroundJob, type BackgroundJobOptions, errorMessage, type JobDeps, type JobState } from "./background-job";
import type { TimerHandle } from "../util/clock";

/** How long one OD reading takes, as the original budgets it. */
export const OD_READING_DURATION_S = 1.0;

export class DodgingTimingError extends Error {
  override name = "DodgingTimingError";
}

/** The time budget between OD readings (seconds); throws when the delays cannot fit. */
export function computeOdTiming(p: {
  interval: number;
  firstOdObsTime: number;
  now: number;
  odDuration: number;
  preDelay: number;
  postDelay: number;
  afterAction: number;
}): { waitWindow: number; timeToNextOd: number } {
  const fullCycle = p.interval - p.odDuration - (p.preDelay + p.postDelay) - p.afterAction;
  if (fullCycle <= 0) {
    throw new DodgingTimingError(
      `Insufficient time budget: interval=${p.interval}, od_duration=${p.odDuration}, pre_delay=${p.preDelay}, post_delay=${p.postDelay}, after_action=${p.afterAction}`,
    );
  }
  const timeToNextOd = p.interval - (((p.now - p.firstOdObsTime) % p.interval) + p.interval) % p.interval;
  return { waitWindow: Math.min(fullCycle, Math.max(0, timeToNextOd - p.preDelay)), timeToNextOd };
}

export abstract class DodgingJob extends BackgroundJob {
  private dodgingInitCalledOnce = false;
  private sneakInTimer: TimerHandle | undefined;
  private pendingBeforeRead: TimerHandle | undefined;

  constructor(deps: JobDeps, options: BackgroundJobOptions, enableDodgingOd: boolean) {
    super(deps, options);
    if (!deps.config.hasSection(`${options.jobName}.config`)) {
      throw new Error(`Required section '${options.jobName}.config' does not exist in the configuration.`);
    }
    this.initialEnableDodging = enableDodgingOd;
    this.setters.enable_dodging_od = (v) => this.setEnableDodgingOd(Boolean(v));
  }

  private readonly initialEnableDodging: boolean;

  get enableDodgingOd(): boolean {
    return this.getSetting<boolean>("enable_dodging_od") ?? false;
  }

  get currentlyDodgingOd(): boolean {
    return this.getSetting<boolean>("currently_dodging_od") ?? false;
  }

  protected abstract initializeDodgingOperation(): Promise<void>;
  protected abstract initializeContinuousOperation(): Promise<void>;
  protected abstract actionToDoBeforeOdReading(): Promise<void>;
  protected abstract actionToDoAfterOdReading(): Promise<void>;

  /** The dodging settings are published before the subclass's own setup, as in the original. */
  protected override async setup(): Promise<void> {
    // Declared enable-then-currently (the order settings are cleared in), but `currently` is
    // published first because the original gives it a class default.
    this.addSetting("enable_dodging_od", { datatype: "boolean", settable: true });
    this.addSetting("currently_dodging_od", { datatype: "boolean", settable: false }, false);
    this.setSetting("enable_dodging_od", this.initialEnableDodging);
    await this.setupJob();
    await this.setEnableDodgingOd(this.enableDodgingOd);
    await this.subscribe(this.settingTopic("$state", "od_reading"), (m) => this.odReadingChangedState(m.payload), {
      allowRetained: false,
    });
  }

  /** The subclass's own start-up work. */
  protected abstract setupJob(): Promise<void>;

  private desiredDodging(enable: boolean, odState: JobState | undefined): boolean {
    return enable && (odState === "ready" || odState === "sleeping" || odState === "init");
  }

  async setEnableDodgingOd(value: boolean): Promise<void> {
    this.setSetting("enable_dodging_od", value);
    const odRunning = this.deps.registry.runningJobId("od_reading") !== undefined;
    await this.setCurrentlyDodgingOd(this.desiredDodging(value, odRunning ? "ready" : "disconnected"));
  }

  private async odReadingChangedState(payload: Buffer): Promise<void> {
    if (!this.enableDodgingOd || payload.length === 0) return;
    await this.setCurrentlyDodgingOd(this.desiredDodging(true, payload.toString("utf8") as JobState));
  }

  private async setCurrentlyDodgingOd(value: boolean): Promise<void> {
    if (this.state === "disconnected" || this.state === "lost") return;
    if (this.dodgingInitCalledOnce && this.currentlyDodgingOd === value) return;
    this.dodgingInitCalledOnce = true;
    this.setSetting("currently_dodging_od", value);
    if (value) {
      this.logger.debug("Dodging enabled.");
    } else {
      this.logger.debug("Dodging disabled; running continuously.");
      this.cancelSneakIn();
    }
    if (this.state === "sleeping") return;
    if (value) {
      await this.initializeDodgingOperation();
      this.setUpSneakInTimer();
    } else {
      await this.initializeContinuousOperation();
    }
  }

  private cancelSneakIn(): void {
    this.sneakInTimer?.cancel();
    this.sneakInTimer = undefined;
    this.pendingBeforeRead?.cancel();
    this.pendingBeforeRead = undefined;
  }

  private odSetting(name: string): number | undefined {
    const v = this.deps.registry.settingOfRunningJob("od_reading", name);
    const n = Number(v);
    return v === undefined || v === null || !Number.isFinite(n) ? undefined : n;
  }

  private setUpSneakInTimer(): void {
    this.cancelSneakIn();
    const section = `${this.jobName}.config`;
    const postDelay = this.config.getFloat(section, "post_delay_duration", 0.5);
    const preDelay = this.config.getFloat(section, "pre_delay_duration", 1.5);
    if (postDelay < 0.25) this.logger.warning("For optimal OD readings, keep `post_delay_duration` more than 0.25 seconds.");
    if (preDelay < 0.25) this.logger.warning("For optimal OD readings, keep `pre_delay_duration` more than 0.25 seconds.");
    const interval = this.odSetting("interval");
    const firstObs = this.odSetting("first_od_obs_time");
    if (interval === undefined || firstObs === undefined) {
      this.logger.error("od_reading's interval and first_od_obs_time are not in the job registry; cannot dodge OD readings.");
      return;
    }
    if (!(interval - OD_READING_DURATION_S > postDelay + preDelay)) {
      this.logger.error(
        `Your pre_delay=${preDelay} or post_delay=${postDelay} is too high for the samples_per_second=${1 / interval}. Either decrease pre_delay or post_delay, or decrease samples_per_second`,
      );
      void this.setState("disconnected");
      return;
    }
    const nowS = this.clock.now() / 1000;
    const timeToNext = interval - (((nowS - firstObs) % interval) + interval) % interval;
    const firstRunMs = (timeToNext + postDelay + OD_READING_DURATION_S) * 1000;
    const sneakIn = async () => {
      if (this.state !== "ready" || !this.currentlyDodgingOd) return;
      const t0 = this.clock.now();
      await this.actionToDoAfterOdReading();
      const afterAction = (this.clock.now() - t0) / 1000;
      let timing: { waitWindow: number };
      try {
        timing = computeOdTiming({
          interval,
          firstOdObsTime: firstObs,
          now: this.clock.now() / 1000,
          odDuration: OD_READING_DURATION_S,
          preDelay,
          postDelay,
          afterAction,
        });
      } catch (e) {
        this.logger.error(errorMessage(e));
        void this.setState("disconnected");
        return;
      }
      this.pendingBeforeRead = this.clock.setTimeout(() => {
        this.pendingBeforeRead = undefined;
        void this.enqueue(async () => {
          if (this.state !== "ready" || !this.currentlyDodgingOd) return;
          await this.actionToDoBeforeOdReading();
        });
      }, timing.waitWindow * 1000);
    };
    const first = this.clock.setTimeout(() => {
      void this.enqueue(sneakIn);
      this.sneakInTimer = this.every(interval * 1000, sneakIn);
    }, firstRunMs);
    this.sneakInTimer = first;
  }

  protected override async onDisconnected(): Promise<void> {
    this.cancelSneakIn();
  }
}
