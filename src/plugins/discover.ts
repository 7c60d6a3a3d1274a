/**
 * Where plugins come from, decided as the original decides (plugin_management/utils.py):
 *
 * - `SKIP_PLUGINS` set to anything non-empty: no plugins at all.
 * - Drop-in files `*.js` / `*.cjs` in `$DOT_PIOREACTOR/plugins/`, in lexicographic order. Under
 *   `TESTING=1` only `$PLUGINS_DEV` is read (none when unset), so tests never pick up a
 *   developer's real plugins.
 * - npm packages (our "entry points"): a package is a plugin when its package.json has a
 *   `"pioreactor"` field. They are looked for in `$DOT_PIOREACTOR/plugins/node_modules/` (what
 *   `npm install --prefix ~/.pioreactor/plugins <pkg>` fills) and in pioreactor-ts's own
 *   node_modules, where only `pioreactor-plugin-*` names are opened so that scanning hundreds of
 *   ordinary dependencies costs nothing.
 *
 * Packages load before files, as entry points load before the folder in the original.
 */
import fs from "node:fs";
import path from "node:path";
import { dotPioreactorDir } from "../config/paths";
import { isTesting } from "../config/testing";

export interface PackageJson {
  name?: unknown;
  version?: unknown;
  description?: unknown;
  homepage?: unknown;
  author?: unknown;
  main?: unknown;
  /** `true`, or `{ "plugin": "./dist/plugin.js" }` to name the entry (default: `main`, then index.js). */
  pioreactor?: unknown;
}

export type PluginSource =
  | { kind: "file"; file: string; stem: string }
  | { kind: "package"; file: string; packageName: string; packageDir: string; packageJson: PackageJson };

export interface DiscoverOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** node_modules folders to search; default: the plugins folder's, then pioreactor-ts's own. */
  nodeModulesDirs?: Array<{ dir: string; onlyPluginNames: boolean }>;
}

const PLUGIN_PACKAGE_NAME = /^(?:@[^/]+\/)?pioreactor-plugin-/;
const PLUGIN_FILE = /\.(?:js|cjs|mjs)$/;

/** The drop-in folder in effect, or undefined when none is read. */
export function pluginsFolder(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  if (env.SKIP_PLUGINS) return undefined;
  if (isTesting(env)) return env.PLUGINS_DEV ? path.resolve(cwd, env.PLUGINS_DEV) : undefined;
  return path.join(dotPioreactorDir(env, cwd), "plugins");
}

/** pioreactor-ts's own node_modules, found from this file in `src/` (tests) or `dist/src/` (installed). */
function ownNodeModules(): string | undefined {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, "node_modules");
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return undefined;
}

function defaultNodeModulesDirs(env: NodeJS.ProcessEnv, cwd: string): Array<{ dir: string; onlyPluginNames: boolean }> {
  const out = [{ dir: path.join(dotPioreactorDir(env, cwd), "plugins", "node_modules"), onlyPluginNames: false }];
  const own = ownNodeModules();
  if (own) out.push({ dir: own, onlyPluginNames: true });
  return out;
}

function readDirSafe(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** Package folder names in a node_modules folder, scoped ones as `@scope/name`, sorted. */
function packageNames(nodeModules: string): string[] {
  const names: string[] = [];
  for (const entry of readDirSafe(nodeModules)) {
    if (entry.name.startsWith(".")) continue;
    if (entry.name.startsWith("@")) {
      for (const sub of readDirSafe(path.join(nodeModules, entry.name))) names.push(`${entry.name}/${sub.name}`);
    } else {
      names.push(entry.name);
    }
  }
  return names.sort();
}

/** The entry file a plugin package declares. */
export function packageEntry(packageDir: string, pkg: PackageJson): string {
  const declared = typeof pkg.pioreactor === "object" && pkg.pioreactor !== null ? (pkg.pioreactor as { plugin?: unknown }).plugin : undefined;
  const entry = typeof declared === "string" ? declared : typeof pkg.main === "string" ? pkg.main : "index.js";
  return path.resolve(packageDir, entry);
}

function discoverPackages(dirs: Array<{ dir: string; onlyPluginNames: boolean }>): PluginSource[] {
  const out: PluginSource[] = [];
  const seen = new Set<string>();
  for (const { dir, onlyPluginNames } of dirs) {
    for (const name of packageNames(dir)) {
      if (seen.has(name) || (onlyPluginNames && !PLUGIN_PACKAGE_NAME.test(name))) continue;
      const packageDir = path.join(dir, name);
      let packageJson: PackageJson;
      try {
        packageJson = JSON.parse(fs.readFileSync(path.join(packageDir, "package.json"), "utf8")) as PackageJson;
      } catch {
        continue; // not a package (or not readable): nothing declared a plugin here
      }
      if (packageJson.pioreactor === undefined || packageJson.pioreactor === false) continue;
      seen.add(name);
      out.push({ kind: "package", file: packageEntry(packageDir, packageJson), packageName: name, packageDir, packageJson });
    }
  }
  return out;
}

function discoverFiles(folder: string | undefined): PluginSource[] {
  if (!folder) return [];
  return readDirSafe(folder)
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && PLUGIN_FILE.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => ({ kind: "file" as const, file: path.join(folder, name), stem: name.replace(PLUGIN_FILE, "") }));
}

export function discoverPluginSources(options: DiscoverOptions): PluginSource[] {
  const { env, cwd } = options;
  if (env.SKIP_PLUGINS) return [];
  return [...discoverPackages(options.nodeModulesDirs ?? defaultNodeModulesDirs(env, cwd)), ...discoverFiles(pluginsFolder(env, cwd))];
}
