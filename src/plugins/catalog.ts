/**
 * Plugin jobs as `pio run` catalog entries. A plugin job replaces a built-in of the same name, as
 * the original's run group prefers plugin commands over its own lazy ones.
 */
import type { CatalogEntry } from "../jobs/catalog";
import type { PluginRegistry } from "./registry";

export function pluginCatalogEntries(registry: PluginRegistry): CatalogEntry[] {
  return registry.jobs().map(({ plugin, command }) => ({
    name: command.name,
    summary: command.summary,
    source: plugin,
    ...(command.leaderOnly ? { leaderOnly: true } : {}),
    load: () => command,
  }));
}
