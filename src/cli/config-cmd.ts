/**
 * `pio config …`: read and edit configuration from the command line.
 *   pio config get SECTION KEY [--shared|--specific]     effective value (or one file's own value)
 *   pio config set SECTION KEY VALUE (--shared|--specific)  rewrite one line, atomically
 *   pio config show [--section S] [--key K] [--json] [--with-source]
 * Messages and exit codes follow the original: 0 ok, 1 failure, 2 usage error.
 */
import type { Command } from "commander";
import { amILeader, isTesting } from "../config/identity";
import { IdentityError } from "../config/identity-errors";
import { IniDocument } from "../config/ini";
import { readIniFile, saveIniFile } from "../config/ini-file";
import { LayeredConfig } from "../config/layered";
import { loadConfigFiles } from "../config/load";
import { type ConfigFileKind, resolveConfigPath } from "../config/paths";
import { listEffectiveConfig, renderConfigJson, renderConfigText } from "../config/show";
import { ConfigError } from "../config/types";
import { CliError, UsageError } from "./exit";

export interface ConfigCommandDeps {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The OS hostname (to tell whether this unit is the leader); defaults to `os.hostname()`. */
  hostname?: () => string;
  /** Writes one line of normal output (stdout). */
  print(line: string): void;
  /** Writes one line of diagnostics (stderr); defaults to discarding them. */
  warn?(line: string): void;
}

interface GetOptions {
  shared?: boolean;
  specific?: boolean;
}

interface ShowOptions {
  section?: string;
  key?: string;
  json?: boolean;
  withSource?: boolean;
}

export function registerConfigCommands(program: Command, deps: ConfigCommandDeps): Command {
  const group = program.command("config").description("inspect and change configuration");
  // As with the original's click groups, `pio config` alone prints its help and succeeds.
  group.action(() => {
    deps.print(group.helpInformation().trimEnd());
  });

  const get = group
    .command("get")
    .description("print one effective config value")
    .argument("<section>")
    .argument("<key>")
    .option("--shared", "read config.ini only (what every unit shares)")
    .option("--specific", "read this unit's unit_config.ini only")
    .action((section: string, key: string, opts: GetOptions) => {
      if (opts.shared && opts.specific) throw usageError(get, "Invalid value: Specify at most one of --shared or --specific.");
      withUserErrors(() => {
        if (!opts.shared && !opts.specific) {
          const config = loadConfigFiles(deps).config;
          deps.print(lookup(config, section, key, "effective config") ?? "");
          return;
        }
        const kind: ConfigFileKind = opts.shared ? "global" : "local";
        deps.print(lookup(singleFileConfig(kind, deps), section, key, "config file") ?? "");
      });
    });

  const set = group
    .command("set")
    .description("set one config value, changing only that line of the file")
    .argument("<section>")
    .argument("<key>")
    .argument("<value>")
    .option("--shared", "write config.ini (only on the leader, which owns it)")
    .option("--specific", "write this unit's unit_config.ini")
    .action((section: string, key: string, value: string, opts: GetOptions) => {
      if (Boolean(opts.shared) === Boolean(opts.specific)) {
        throw usageError(set, "Invalid value: Specify exactly one of --shared or --specific.");
      }
      withUserErrors(() => {
        if (opts.shared && !isTesting(deps.env) && !amILeader(deps.env, loadConfigFiles(deps).config, deps.hostname)) {
          // The original quietly does nothing here: config.ini belongs to the leader, which
          // pushes it to the workers. Say so on stderr so the user is not left guessing.
          deps.warn?.("Not changed: config.ini is owned by the leader; run this on the leader (then pios sync-configs --shared).");
          return;
        }
        const target = resolveConfigPath(opts.shared ? "global" : "local", deps.env, deps.cwd).path;
        const document = readIniFile(target) ?? IniDocument.empty(target);
        document.set(section, key, value);
        saveIniFile(target, document);
      });
    });

  const show = group
    .command("show")
    .description("print the merged config (config.ini, unit_config.ini and derived sections)")
    .option("--section <section>", "only this section")
    .option("--key <key>", "only this key (needs --section)")
    .option("--json", "print JSON")
    .option("--with-source", "say where each value comes from: global, local or derived")
    .action((opts: ShowOptions) => {
      if (opts.key !== undefined && opts.section === undefined) {
        throw usageError(show, "Invalid value for '--key': --key requires --section.");
      }
      withUserErrors(() => {
        let listing = listEffectiveConfig(loadConfigFiles(deps).config);
        if (opts.section !== undefined) {
          const values = listing.get(opts.section);
          if (!values) throw new CliError(`Section '${opts.section}' not found in effective config.`);
          listing = new Map([[opts.section, values]]);
          if (opts.key !== undefined) {
            const value = values.get(opts.key);
            if (!value) throw new CliError(`Key '${opts.key}' not found in section '${opts.section}'.`);
            listing = new Map([[opts.section, new Map([[opts.key, value]])]]);
          }
        }
        const withSource = Boolean(opts.withSource);
        const text = opts.json ? renderConfigJson(listing, withSource) : renderConfigText(listing, withSource);
        for (const line of text.split("\n")) deps.print(line);
      });
    });

  return group;
}

/** One file read on its own (no merging, no derived sections); a missing file reads as empty. */
function singleFileConfig(kind: ConfigFileKind, deps: ConfigCommandDeps): LayeredConfig {
  const path = resolveConfigPath(kind, deps.env, deps.cwd).path;
  const document = readIniFile(path) ?? IniDocument.empty(path);
  return LayeredConfig.fromLayers([{ source: kind, document }], { derived: false });
}

function lookup(config: LayeredConfig, section: string, key: string, where: string): string | null {
  if (!config.hasSection(section)) throw new CliError(`Section '${section}' not found in ${where}.`);
  if (!config.has(section, key)) throw new CliError(`Key '${key}' not found in section '${section}'.`);
  return config.get(section, key) ?? null;
}

/** Configuration and identity problems are the user's to fix: show the message, not a stack. */
function withUserErrors(run: () => void): void {
  try {
    run();
  } catch (e) {
    if (e instanceof ConfigError || e instanceof IdentityError) throw new CliError(e.message);
    if (isFileSystemError(e)) throw new CliError(e.message);
    throw e;
  }
}

function isFileSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string" && "syscall" in e;
}

/** A click-style usage error: usage line, help hint, then the problem; exit code 2. */
function usageError(cmd: Command, problem: string): UsageError {
  const path: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) path.unshift(c.name());
  const name = path.join(" ");
  return new UsageError(`Usage: ${name} ${cmd.usage()}\nTry '${name} --help' for help.\n\nError: ${problem}`);
}
