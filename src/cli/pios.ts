#!/usr/bin/env node
/**
 * `pios`: commands the leader sends to the workers (run, kill, jobs, sync-configs, reboot,
 * shutdown). Leader only, as the original. The real world (config files, HTTP, MQTT, the
 * database, the terminal) is composed here and passed in; the commands themselves take ports.
 */
import { Command } from "commander";
import type { ConfigReader } from "../config/types";
import { RealClock } from "../util/clock";
import { CliError, UsageError } from "./exit";
import { exitCodeFor, exitQuietlyOnClosedStdout, runProgram } from "./main";
import type { PiosDeps } from "./pios-commands";
import { SOFTWARE_VERSION } from "./version";

export interface PiosEnvironment {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** `--config-override` triples taken out of a `pios run` command line. */
  runConfigOverrides?: Array<[string, string, string]>;
  /** Replace parts of the real world (tests: prompt, progress, print). */
  overrides?: Partial<PiosDeps>;
  /** Whether this unit is the leader; default: identity from config and HOSTNAME. */
  isLeader?: (config: ConfigReader) => boolean;
}

/** `current` is the composed config (tests may replace it), so every real port reads the same one. */
function realDeps(where: PiosEnvironment, current: () => ConfigReader): PiosDeps {
  let config: ConfigReader | undefined;
  const loadConfigOnce = (): ConfigReader => {
    if (!config) {
      const { loadConfig } = require("../config/load") as typeof import("../config/load");
      config = loadConfig({ env: where.env, cwd: where.cwd });
    }
    return config;
  };
  const clock = new RealClock();
  const { dotPioreactorDir } = require("../config/paths") as typeof import("../config/paths");
  return {
    config: loadConfigOnce,
    http: () => {
      const { ClusterHttp } = require("../leader/cluster/cluster-http") as typeof import("../leader/cluster/cluster-http");
      return new ClusterHttp({ config: current(), fetch: (url, init) => fetch(url, init), clock });
    },
    dotPioreactor: dotPioreactorDir(where.env, where.cwd),
    cwd: where.cwd,
    print: (line) => process.stdout.write(`${line}\n`),
    warn: (line) => process.stderr.write(`${line}\n`),
    prompt: (require("./pios-prompt") as typeof import("./pios-prompt")).terminalPrompt(process.stdin, process.stdout),
    progress: (label, total) => (require("./pios-progress") as typeof import("./pios-progress")).terminalProgress(process.stderr, label, total),
    mqtt: async () => {
      const { connectMqtt, mqttOptionsFromConfig } = require("../pubsub/client") as typeof import("../pubsub/client");
      const client = await connectMqtt({ ...mqttOptionsFromConfig(current(), where.env), clientIdBase: "pios" });
      return {
        publish: (topic, payload, qos) => client.publish(topic, payload, { qos }),
        end: () => client.end(),
      };
    },
    recordConfigHistory: async (filename, data, timestamp) => {
      const { openDatabase } = require("../leader/db/open") as typeof import("../leader/db/open");
      const db = openDatabase(current());
      try {
        await db("config_files_histories").insert({ timestamp, filename, data });
      } finally {
        await db.destroy();
      }
    },
    copyFileToUnit: (_unit, address, localPath, remotePath) =>
      new Promise((resolve, reject) => {
        const { execFile } = require("node:child_process") as typeof import("node:child_process");
        execFile("rsync", ["-z", "--timeout", "15", "--inplace", "--checksum", localPath, `pioreactor@${address}:${remotePath}`], (err, _out, stderr) =>
          err ? reject(new Error(`rsync failed: ${String(stderr).trim() || err.message}`)) : resolve(),
        );
      }),
    now: () => new Date(),
    runConfigOverrides: where.runConfigOverrides ?? [],
  };
}

export function buildPiosProgram(where: PiosEnvironment): Command {
  const deps = {} as PiosDeps;
  Object.assign(deps, realDeps(where, () => deps.config()), where.overrides);
  const program = new Command("pios")
    .description(
      "Command each of the worker Pioreactors with the `pios` command.\n\nSee full documentation here: https://docs.pioreactor.com/user-guide/cli#leader-only-commands-to-control-workers",
    )
    .version(SOFTWARE_VERSION, "--version", "print the Pioreactor software version and exit");
  program.hook("preAction", () => {
    const config = deps.config();
    const isLeader =
      where.isLeader ?? ((c: ConfigReader) => (require("../config/identity") as typeof import("../config/identity")).amILeader(where.env, c));
    if (!isLeader(config)) throw new CliError("workers cannot run `pios` commands. Try `pio` instead.");
  });
  const { registerPiosCommands } = require("./pios-commands") as typeof import("./pios-commands");
  registerPiosCommands(program, deps);
  return program;
}

/** Parses and runs one `pios` command line; resolves to the exit code. */
export async function runPios(argv: string[], where: Omit<PiosEnvironment, "runConfigOverrides">): Promise<number> {
  const { extractRunConfigOverrides } = require("./pios-run-args") as typeof import("./pios-run-args");
  const extracted = extractRunConfigOverrides(argv);
  if (extracted.error) return exitCodeFor(new UsageError(extracted.error));
  const program = buildPiosProgram({ ...where, runConfigOverrides: extracted.overrides });
  return runProgram(program, ["node", "pios", ...extracted.argv]);
}

async function main(): Promise<void> {
  exitQuietlyOnClosedStdout();
  const code = await runPios(process.argv.slice(2), { env: process.env, cwd: process.cwd() });
  process.exitCode = process.exitCode || code;
}

if (require.main === module) {
  void main();
}
