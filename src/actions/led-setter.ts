/**
 * The `LedSetter` LED automations drive, backed by `LedController` — the same code path as
 * `pio run led_intensity` (caches, locks, `leds/intensity` and `led_change_events`), on a
 * connection of its own as the original's led_intensity helper uses.
 */
import type { LedChannel } from "../hardware/ports";
import type { LedSetter } from "../automations/led/base";
import type { JobCommand } from "../jobs/job-command";
import type { UnitContext } from "../jobs/unit-context";
import type { PubSubClient } from "../pubsub/types";
import { ledControllerOn } from "./led-intensity";

export async function ledSetterForUnit(ctx: UnitContext, experiment: string): Promise<LedSetter & { close(): Promise<void> }> {
  const backend = await ctx.hardware();
  const client: PubSubClient = await ctx.connect({ clientIdBase: `led_automation-leds-${ctx.unit}-${experiment}`, keepalive: 60, clean: true });
  const controller = ledControllerOn(ctx, experiment, client, "led_automation", backend.ledDriver);
  return {
    setIntensity: (channel: LedChannel, percent: number, sourceOfEvent: string) =>
      controller.setIntensities({ [channel]: percent }, { verbose: true, sourceOfEvent }),
    close: () => client.end(),
  };
}

/** `led_automation` for `pio run`: LEDs through `LedController`, whose connection closes with the job. */
export function ledAutomationCommandWithLeds(): JobCommand {
  const { ledAutomationCommand } = require("../automations/commands") as typeof import("../automations/commands");
  const opened: Array<{ close(): Promise<void> }> = [];
  const inner = ledAutomationCommand(async (ctx, experiment) => {
    const setter = await ledSetterForUnit(ctx, experiment);
    opened.push(setter);
    return setter;
  });
  return {
    ...inner,
    async run(input) {
      try {
        return await inner.run(input);
      } finally {
        await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
      }
    },
  };
}
