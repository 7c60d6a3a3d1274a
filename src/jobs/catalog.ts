/**
 * The jobs `pio run` knows, by name. Entries load their module only when asked for, so listing the
 * catalog (for `pio run --help` or an unknown-job error) costs nothing.
 */
import type { JobCommand } from "./job-command";

export interface CatalogEntry {
  name: string;
  summary: string;
  leaderOnly?: boolean;
  load(): JobCommand;
}

export function builtinCatalog(): CatalogEntry[] {
  return [
    {
      name: "stirring",
      summary: "Start the stirring of the Pioreactor.",
      load: () => (require("./stirring") as typeof import("./stirring")).stirringCommand,
    },
  ];
}
