/**
 * The LED automation family (`led_automation`). LEDs are driven through a `LedSetter` port (the
 * led_intensity action in production), retried against the OD job's temporary locks; every
 * channel the automation touched is turned off when it stops.
 */
import type { JobDeps } from "../../jobs/background-job";
import type { LedChannel } from "../../hardware/ports";
import { AutomationJob, type AutomationJobOptions } from "../base";

export interface LedSetter {
  /** Sets one channel (%); resolves false when the channel is locked (OD reading in progress). */
  setIntensity(channel: LedChannel, percent: number, sourceOfEvent: string): Promise<boolean>;
}

export abstract class LedAutomationJob extends AutomationJob {
  private readonly touched = new Set<LedChannel>();

  constructor(
    deps: JobDeps,
    options: Omit<AutomationJobOptions, "jobName">,
    protected readonly leds: LedSetter,
  ) {
    super(deps, { ...options, jobName: "led_automation" });
  }

  /** Six tries half a second apart, as the original, because OD readings lock LEDs briefly. */
  async setLedIntensity(channel: LedChannel, percent: number): Promise<boolean> {
    for (let i = 0; i < 6; i++) {
      if (await this.leds.setIntensity(channel, percent, `${this.jobName}:${this.automationName}`)) {
        this.touched.add(channel);
        return true;
      }
      await this.clock.sleep(500);
    }
    this.logger.warning(`Unable to update channel ${channel} due to a long lock being on the channel.`);
    return false;
  }

  protected override async onDisconnected(): Promise<void> {
    await super.onDisconnected();
    for (const channel of this.touched) await this.leds.setIntensity(channel, 0, `${this.jobName}:${this.automationName}`).catch(() => false);
  }
}
