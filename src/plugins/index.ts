/**
 * Plugins: discovery, loading, the registry of what they contributed, and `pio plugins`.
 * See README.md here for how to write one.
 */
export { pluginCatalogEntries } from "./catalog";
export { pluginsAsJson, registerPluginsCommands, type PluginsCommandDeps } from "./cli";
export { discoverPluginSources, pluginsFolder, type PluginSource } from "./discover";
export { formatPluginLoadError, loadPlugins, type LoadPluginsOptions, UNKNOWN } from "./load";
export { PluginRegistry } from "./registry";
export * from "./types";

import type { LoadPluginsOptions } from "./load";

/**
 * `name → version` of the installed plugins, for a profile's `plugins:` requirement
 * (`installedPlugins` of the profile executor; checked by `missingPlugins` in profiles/plugin-check).
 */
export function installedPluginVersions(options: LoadPluginsOptions): Record<string, string> {
  const { loadPlugins } = require("./load") as typeof import("./load");
  return loadPlugins(options).versions();
}
