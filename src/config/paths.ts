/**
 * Where config.ini and unit_config.ini live, decided the way the original decides (first rule that
 * applies wins; there is no fallback to the next rule when the file is missing, so a typo in
 * GLOBAL_CONFIG is reported instead of silently reading some other config):
 *   1. $GLOBAL_CONFIG / $LOCAL_CONFIG (full path to the file)
 *   2. $DOT_PIOREACTOR/<file>
 *   3. under TESTING=1, ./.pioreactor/<file>
 *   4. /home/pioreactor/.pioreactor/<file>
 */
import * as path from "node:path";
import { isTesting } from "./testing";

export const DEFAULT_DOT_PIOREACTOR = "/home/pioreactor/.pioreactor";

export type ConfigFileKind = "global" | "local";

const FILE_NAMES: Record<ConfigFileKind, string> = { global: "config.ini", local: "unit_config.ini" };
const EXPLICIT_VARS: Record<ConfigFileKind, string> = { global: "GLOBAL_CONFIG", local: "LOCAL_CONFIG" };

export interface ResolvedConfigPath {
  kind: ConfigFileKind;
  /** Absolute path. */
  path: string;
  /** Which rule chose it, e.g. "$DOT_PIOREACTOR/config.ini", for error messages. */
  rule: string;
}

export function configFileName(kind: ConfigFileKind): string {
  return FILE_NAMES[kind];
}

/** Empty variables count as unset: an empty path can only be a mistake. */
function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : value;
}

export function resolveConfigPath(kind: ConfigFileKind, env: NodeJS.ProcessEnv, cwd: string): ResolvedConfigPath {
  const file = FILE_NAMES[kind];
  const explicitVar = EXPLICIT_VARS[kind];
  const explicit = envValue(env, explicitVar);
  if (explicit) return { kind, path: path.resolve(cwd, explicit), rule: `$${explicitVar}` };
  const dot = envValue(env, "DOT_PIOREACTOR");
  if (dot) return { kind, path: path.resolve(cwd, dot, file), rule: `$DOT_PIOREACTOR/${file}` };
  if (isTesting(env)) return { kind, path: path.resolve(cwd, ".pioreactor", file), rule: `./.pioreactor/${file} (TESTING=1)` };
  return { kind, path: path.join(DEFAULT_DOT_PIOREACTOR, file), rule: `the default ${DEFAULT_DOT_PIOREACTOR}/${file}` };
}

/** The lookup order as a human-readable list, for "file not found" messages. */
export function describeLookupOrder(kind: ConfigFileKind): string {
  const file = FILE_NAMES[kind];
  return [
    `$${EXPLICIT_VARS[kind]} (full path)`,
    `$DOT_PIOREACTOR/${file}`,
    `./.pioreactor/${file} when TESTING=1`,
    `${DEFAULT_DOT_PIOREACTOR}/${file}`,
  ].join(", then ");
}

/** $DOT_PIOREACTOR, or the original's default home for Pioreactor data. */
export function dotPioreactorDir(env: NodeJS.ProcessEnv, cwd: string): string {
  const dot = envValue(env, "DOT_PIOREACTOR");
  return dot ? path.resolve(cwd, dot) : DEFAULT_DOT_PIOREACTOR;
}
