/**
 * `light_dark_cycle`: channels C and D on at `light_intensity` for `light_duration_minutes`, then
 * off for `dark_duration_minutes`, starting lit when the job starts. Runs at start and at each
 * phase boundary; changing a duration re-plans the next boundary at once.
 */
import type { JobDeps } from "../../jobs/background-job";
import type { LedChannel } from "../../hardware/ports";
import type { AutomationEvent } from "../../pubsub/structs";
import type { TimerHandle } from "../../util/clock";
import { AutomationSettingError, numberArg } from "../base";
import { automationEvent } from "../events";
import { type LedSetter, LedAutomationJob } from "./base";

const CHANNELS: LedChannel[] = ["D", "C"];

export interface LightDarkCycleArgs {
  light_intensity?: number | string;
  light_duration_minutes?: number | string;
  dark_duration_minutes?: number | string;
}

function inRange(name: string, v: number, min: number, max: number, unit: string): number {
  if (!(v >= min && v <= max)) throw new AutomationSettingError(`${name} must be in ${min} ≤ x ≤ ${max} ${unit} (got ${v}).`);
  return v;
}

export class LightDarkCycle extends LedAutomationJob {
  static readonly automationName = "light_dark_cycle";
  private startedMs = 0;
  private lightOn: boolean | undefined;
  private boundary: TimerHandle | undefined;
  private readonly initial: { intensity: number; light: number; dark: number };

  constructor(deps: JobDeps, leds: LedSetter, args: LightDarkCycleArgs) {
    super(
      deps,
      {
        automationName: LightDarkCycle.automationName,
        settings: {
          light_intensity: { datatype: "float", settable: true, unit: "%" },
          light_duration_minutes: { datatype: "float", settable: true, unit: "min" },
          dark_duration_minutes: { datatype: "float", settable: true, unit: "min" },
        },
      },
      leds,
    );
    const a = args as Record<string, unknown>;
    this.initial = {
      intensity: inRange("light_intensity", numberArg(a, "light_intensity", 5), 0, 100, "%"),
      light: inRange("light_duration_minutes", numberArg(a, "light_duration_minutes", 960), 0, 1e6, "min"),
      dark: inRange("dark_duration_minutes", numberArg(a, "dark_duration_minutes", 480), 0, 1e6, "min"),
    };
    this.setters.light_intensity = async (v) => {
      this.setSetting("light_intensity", inRange("light_intensity", Number(v), 0, 100, "%"));
      if (this.lightOn) for (const c of CHANNELS) await this.setLedIntensity(c, Number(v));
    };
    for (const key of ["light_duration_minutes", "dark_duration_minutes"] as const) {
      this.setters[key] = async (v) => {
        this.setSetting(key, inRange(key, Number(v), 0, 1e6, "min"));
        await this.runOnce();
      };
    }
  }

  protected override async setupAutomation(): Promise<void> {
    this.setSetting("light_intensity", this.initial.intensity);
    this.setSetting("light_duration_minutes", this.initial.light);
    this.setSetting("dark_duration_minutes", this.initial.dark);
    this.onStrategyStart(async () => {
      this.startedMs = this.clock.now();
      await this.runOnce();
    });
  }

  private phase(): { lit: boolean; msToBoundary: number } {
    const light = (this.getSetting<number>("light_duration_minutes") ?? 0) * 60_000;
    const dark = (this.getSetting<number>("dark_duration_minutes") ?? 0) * 60_000;
    if (light <= 0) return { lit: false, msToBoundary: Number.POSITIVE_INFINITY };
    if (dark <= 0) return { lit: true, msToBoundary: Number.POSITIVE_INFINITY };
    const t = (this.clock.now() - this.startedMs) % (light + dark);
    return t < light ? { lit: true, msToBoundary: light - t } : { lit: false, msToBoundary: light + dark - t };
  }

  protected override async execute(): Promise<AutomationEvent | undefined> {
    const { lit, msToBoundary } = this.phase();
    this.boundary?.cancel();
    if (Number.isFinite(msToBoundary)) {
      this.boundary = this.clock.setTimeout(() => void this.runOnce(), Math.max(50, msToBoundary));
    }
    if (lit === this.lightOn) return undefined;
    this.lightOn = lit;
    const intensity = lit ? (this.getSetting<number>("light_intensity") ?? 0) : 0;
    for (const c of CHANNELS) await this.setLedIntensity(c, intensity);
    const minutes = Math.round((this.clock.now() - this.startedMs) / 60_000);
    return automationEvent("ChangedLedIntensity", `${minutes}min: turned ${lit ? "on" : "off"} LEDs.`);
  }

  protected override async onDisconnected(): Promise<void> {
    this.boundary?.cancel();
    await super.onDisconnected();
  }
}
