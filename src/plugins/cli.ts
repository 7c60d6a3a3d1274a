/**
 * `pio plugins list [--json]`. Plain output is `name==version` per line, as the original; `--json`
 * prints `[{name, version, description, homepage, source, author}]`. Plugins that failed to load
 * are reported on stderr so the JSON on stdout stays parseable.
 */
import type { Command } from "commander";
import { formatPluginLoadError } from "./load";
import type { PluginRegistry } from "./registry";
import type { PluginInfo } from "./types";

export interface PluginsCommandDeps {
  /** Discovers and loads the plugins (`loadPlugins` with this unit's env and cwd). */
  load(): PluginRegistry;
  print(line: string): void;
  warn(line: string): void;
}

/** The original maps its "UNKNOWN" placeholder to null in the JSON; it never produces it for files. */
function orNull(value: string): string | null {
  return value === "UNKNOWN" ? null : value;
}

export function pluginsAsJson(plugins: readonly PluginInfo[]): string {
  return JSON.stringify(
    plugins.map((p) => ({
      name: p.name,
      version: p.version,
      description: orNull(p.description),
      homepage: orNull(p.homepage),
      source: p.source,
      author: orNull(p.author),
    })),
  );
}

export function registerPluginsCommands(program: Command, deps: PluginsCommandDeps): Command {
  const plugins = program.command("plugins").description("manage plugins");
  plugins
    .command("list")
    .description("list the installed plugins")
    .option("--json", "output as json")
    .action((opts: { json?: boolean }) => {
      const registry = deps.load();
      for (const e of registry.errors) deps.warn(formatPluginLoadError(e));
      if (opts.json) deps.print(pluginsAsJson(registry.plugins()));
      else for (const p of registry.plugins()) deps.print(`${p.name}==${p.version}`);
    });
  return plugins;
}
