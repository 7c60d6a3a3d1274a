/**
 * Loads the runtime configuration from disk: config.ini (required) then unit_config.ini (optional).
 * The environment and working directory are parameters, never read from the process here, so a
 * test or the simulator can load many configurations side by side.
 */
import * as path from "node:path";
import type { IniDocument } from "./ini";
import { readIniFile } from "./ini-file";
import { LayeredConfig } from "./layered";
import { describeLookupOrder, type ResolvedConfigPath, resolveConfigPath } from "./paths";
import { ConfigError } from "./types";

export interface ConfigEnvironment {
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface LoadedConfigFiles {
  global: { path: ResolvedConfigPath; document: IniDocument };
  /** `document` is undefined when unit_config.ini does not exist (that is fine). */
  local: { path: ResolvedConfigPath; document?: IniDocument };
  config: LayeredConfig;
}

/** Reads both files and builds the layered view; throws ConfigError when config.ini is missing or malformed. */
export function loadConfigFiles({ env, cwd }: ConfigEnvironment): LoadedConfigFiles {
  const globalPath = resolveConfigPath("global", env, cwd);
  const localPath = resolveConfigPath("local", env, cwd);
  const global = readIniFile(globalPath.path);
  if (!global) throw new ConfigError(missingConfigMessage(globalPath), globalPath.path);
  const local = readIniFile(localPath.path);
  return {
    global: { path: globalPath, document: global },
    local: { path: localPath, document: local },
    config: LayeredConfig.fromDocuments(global, local),
  };
}

export function loadConfig(where: ConfigEnvironment): LayeredConfig {
  return loadConfigFiles(where).config;
}

export function missingConfigMessage(resolved: ResolvedConfigPath): string {
  return [
    `Configuration file ${resolved.path} is missing (chosen by ${resolved.rule}).`,
    `Lookup order: ${describeLookupOrder(resolved.kind)}.`,
    `On a Pioreactor, has it finished setting up or joined its leader? Otherwise create one from the defaults:`,
    `  mkdir -p "${path.dirname(resolved.path)}" && cp config/config.example.ini "${resolved.path}"`,
    `or point GLOBAL_CONFIG at an existing config.ini.`,
  ].join("\n");
}
