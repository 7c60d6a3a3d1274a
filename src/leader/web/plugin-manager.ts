/**
 * Plugins as the unit API manages them: what is installed (`pio plugins list --json`'s shape),
 * installing an npm package into `$DOT_PIOREACTOR/plugins` (where plugin discovery looks), and
 * uninstalling one (a drop-in file is removed, a package is `npm uninstall`ed). Commands run
 * through the `SystemPort`, so nothing here reaches the network in tests.
 */
import fs from "node:fs";
import path from "node:path";
import { lastOutputLine, type SystemPort } from "./system-port";

export interface InstalledPlugin {
  name: string;
  version: string;
  description: string | null;
  homepage: string | null;
  source: string;
  author: string | null;
}

export interface PluginChangeResult {
  ok: boolean;
  /** Why it failed (the command's last output line), for the server log. */
  detail?: string;
}

export interface PluginManager {
  installed(): Promise<InstalledPlugin[]>;
  install(name: string, source?: string): Promise<PluginChangeResult>;
  uninstall(name: string): Promise<PluginChangeResult>;
}

/** An npm package name, optionally with `@version`; never an option (`-…`), path or URL. */
const NPM_PACKAGE = /^(?:@[A-Za-z0-9][\w.~-]*\/)?[A-Za-z0-9][\w.~-]*(?:@[\w.^~<>=*|+ -]+)?$/;

export function isValidPluginName(name: string): boolean {
  return name.length > 0 && name.length <= 214 && NPM_PACKAGE.test(name);
}

const DROP_IN_SUFFIXES = [".js", ".cjs"];

export interface NpmPluginManagerOptions {
  dotPioreactor: string;
  system: SystemPort;
  /** The npm executable (default `npm`). */
  npm?: string;
}

export function npmPluginManager(opts: NpmPluginManagerOptions): PluginManager {
  const folder = path.join(opts.dotPioreactor, "plugins");
  const npm = opts.npm ?? "npm";
  const npmArgs = ["--prefix", folder, "--no-audit", "--no-fund", "--no-update-notifier"];
  const outcome = (r: { exitCode: number; stdout: string; stderr: string }): PluginChangeResult =>
    r.exitCode === 0 ? { ok: true } : { ok: false, detail: lastOutputLine(r) || `exit code ${r.exitCode}` };

  return {
    async installed() {
      const { loadPlugins } = require("../../plugins/load") as typeof import("../../plugins/load");
      const { pluginsAsJson } = require("../../plugins/cli") as typeof import("../../plugins/cli");
      const registry = loadPlugins({ env: { DOT_PIOREACTOR: opts.dotPioreactor }, cwd: opts.dotPioreactor });
      return JSON.parse(pluginsAsJson(registry.plugins())) as InstalledPlugin[];
    },
    async install(name, source) {
      fs.mkdirSync(folder, { recursive: true });
      return outcome(await opts.system.run(npm, ["install", ...npmArgs, source ?? name], { timeoutMs: 10 * 60_000 }));
    },
    async uninstall(name) {
      for (const suffix of DROP_IN_SUFFIXES) {
        const file = path.join(folder, `${name}${suffix}`);
        if (fs.existsSync(file)) {
          fs.unlinkSync(file);
          return { ok: true };
        }
      }
      return outcome(await opts.system.run(npm, ["uninstall", ...npmArgs, name], { timeoutMs: 5 * 60_000 }));
    },
  };
}
