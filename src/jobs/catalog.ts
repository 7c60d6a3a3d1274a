/**
 * The jobs `pio run` knows, by name. Entries load their module only when asked for, so listing the
 * catalog (for `pio run --help` or an unknown-job error) costs nothing.
 */
import type { JobCommand } from "./job-command";

export interface CatalogEntry {
  name: string;
  summary: string;
  leaderOnly?: boolean;
  /** The plugin that provides the job; absent for built-ins. */
  source?: string;
  load(): JobCommand;
}

/** Built-ins with plugin entries laid over them: a plugin job replaces a built-in of the same name. */
export function mergeCatalogs(builtins: readonly CatalogEntry[], plugins: readonly CatalogEntry[]): CatalogEntry[] {
  const byName = new Map<string, CatalogEntry>();
  for (const entry of [...builtins, ...plugins]) byName.set(entry.name, entry);
  return [...byName.values()];
}

/** A catalog entry whose module is required only when the job runs. */
function lazy(name: string, summary: string, load: () => JobCommand, leaderOnly = false): CatalogEntry {
  return { name, summary, load, leaderOnly };
}

type Pumps = typeof import("../actions/pumps");
type Automations = typeof import("../automations/commands");
const pumps = (): Pumps => require("../actions/pumps") as Pumps;
const automations = (): Automations => require("../automations/commands") as Automations;

export function builtinCatalog(): CatalogEntry[] {
  return [
    lazy("monitor", "Monitor the Pioreactor and the cluster.", () => (require("./monitor") as typeof import("./monitor")).monitorCommand),
    lazy("stirring", "Start the stirring of the Pioreactor.", () => (require("./stirring") as typeof import("./stirring")).stirringCommand),
    lazy("od_reading", "Start the optical density reading job", () => (require("./od-reading") as typeof import("./od-reading")).odReadingCommand),
    lazy(
      "growth_rate_calculating",
      "Start calculating the growth rate",
      () => (require("./growth-rate-calculating") as typeof import("./growth-rate-calculating")).growthRateCalculatingCommand,
    ),
    lazy("dosing_automation", "Start a dosing automation.", () => automations().dosingAutomationCommand),
    lazy("led_automation", "Start an LED automation.", () =>
      (require("../actions/led-setter") as typeof import("../actions/led-setter")).ledAutomationCommandWithLeds(),
    ),
    lazy(
      "led_intensity",
      "Modify the intensity of LED channel(s)",
      () => (require("../actions/led-intensity") as typeof import("../actions/led-intensity")).ledIntensityCommand,
    ),
    lazy("od_blank", "Compute the OD blank of the media", () => (require("../actions/od-blank") as typeof import("../actions/od-blank")).odBlankCommand),
    lazy("temperature_automation", "Start a temperature automation.", () => automations().temperatureAutomationCommand),
    lazy("add_media", "Add media to unit", () => pumps().addMediaCommand),
    lazy("add_alt_media", "Add alt-media to unit", () => pumps().addAltMediaCommand),
    lazy("remove_waste", "Remove waste/media from unit", () => pumps().removeWasteCommand),
    lazy("circulate_media", "Cycle waste/media from unit", () => pumps().circulateMediaCommand),
    lazy("circulate_alt_media", "Cycle waste/alt media from unit", () => pumps().circulateAltMediaCommand),
    lazy("pumps", "Run a sequence of pump actions.", () => pumps().pumpsCommand),
    lazy(
      "mqtt_to_db_streaming",
      "Stream MQTT data into the leader's database.",
      () => (require("../leader/streaming/job") as typeof import("../leader/streaming/job")).mqttToDbStreamingCommand,
      true,
    ),
  ];
}
