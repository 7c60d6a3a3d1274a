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

export function builtinCatalog(): CatalogEntry[] {
  return [
    {
      name: "stirring",
      summary: "Start the stirring of the Pioreactor.",
      load: () => (require("./stirring") as typeof import("./stirring")).stirringCommand,
    },
  ];
}
