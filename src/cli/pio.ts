#!/usr/bin/env node
/**
 * `pio`: commands on this Pioreactor. A thin shell over the library: each command group lives in
 * its own module and loads what it needs only when it runs.
 */
import type { Command } from "commander";
import { RealClock } from "../util/clock";
import { SOFTWARE_VERSION } from "./version";

type Main = typeof import("./main");
const cliMain = (): Main => require("./main") as Main;

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface TopLevelCommand {
  name: string;
  description: string;
  register(program: Command, env: NodeJS.ProcessEnv, cwd: string, configOverrides: Array<[string, string, string]>): void;
}

function unitContext(env: NodeJS.ProcessEnv, cwd: string, configOverrides: Array<[string, string, string]>) {
  const { UnitContext } = require("../jobs/unit-context") as typeof import("../jobs/unit-context");
  return new UnitContext({ env, cwd, configOverrides, embeddedBroker: env.PIOREACTOR_EMBEDDED_BROKER === "1" });
}

function exportDeps(env: NodeJS.ProcessEnv, cwd: string, configOverrides: Array<[string, string, string]>) {
  const { dotPioreactorDir } = require("../config/paths") as typeof import("../config/paths");
  return {
    loadConfig: () => unitContext(env, cwd, configOverrides).config,
    dotPioreactor: () => dotPioreactorDir(env, cwd),
    cwd,
    now: () => new Date(),
    softwareVersion: SOFTWARE_VERSION,
    warn,
  };
}

/**
 * Every top-level command with the module that implements it. Only the command being run is
 * loaded; the others appear in help as placeholders, so `pio version` does not pay for MQTT,
 * SQLite or the broker.
 */
const TOP_LEVEL: TopLevelCommand[] = [
  {
    name: "version",
    description: "print the Pioreactor software version",
    register(program) {
      program
        .command("version")
        .description("print the Pioreactor software version")
        .option("-v, --verbose", "show more system information")
        .action((o: { verbose?: boolean }) => {
          if (!o.verbose) {
            print(SOFTWARE_VERSION);
            return;
          }
          const os = require("node:os") as typeof import("node:os");
          print(`Pioreactor app:         ${SOFTWARE_VERSION}`);
          print(`Operating system:       ${os.type()}-${os.release()}-${os.arch()}`);
          print(`Node.js:                ${process.version}`);
        });
    },
  },
  {
    name: "run",
    description: "run a job",
    register(program, env, cwd, configOverrides) {
      const { registerRunCommand } = require("./run-cmd") as typeof import("./run-cmd");
      const { builtinCatalog } = require("../jobs/catalog") as typeof import("../jobs/catalog");
      const setExitCode = (code: number) => {
        process.exitCode = code;
      };
      const run = registerRunCommand(program, { env, cwd, configOverrides, catalog: builtinCatalog(), setExitCode });
      // `experiment_profile execute|verify` (the original's form) and `profile FILE` (ours).
      const { registerRunProfileCommands } = require("./profile-cmd") as typeof import("./profile-cmd");
      registerRunProfileCommands(run, { env, cwd, setExitCode });
      const { registerExportCommand } = require("./export-cmd") as typeof import("./export-cmd");
      registerExportCommand(run, "export_experiment_data", exportDeps(env, cwd, configOverrides));
    },
  },
  {
    name: "export",
    description: "export an experiment's data as CSV files in a zip",
    register(program, env, cwd, configOverrides) {
      const { registerExportCommand } = require("./export-cmd") as typeof import("./export-cmd");
      registerExportCommand(program, "export", exportDeps(env, cwd, configOverrides));
    },
  },
  {
    name: "workers",
    description: "manage the cluster's workers (leader only)",
    register(program, env, cwd) {
      const { registerWorkersCommands, realWorkersDeps } = require("./workers-cmd") as typeof import("./workers-cmd");
      registerWorkersCommands(program, realWorkersDeps(env, cwd, print, warn));
    },
  },
  {
    name: "experiments",
    description: "create, list and delete experiments (leader only)",
    register(program, env, cwd) {
      const { registerExperimentsCommands, realExperimentsDeps } = require("./experiments-cmd") as typeof import("./experiments-cmd");
      registerExperimentsCommands(program, realExperimentsDeps(env, cwd, print));
    },
  },
  {
    name: "plugins",
    description: "list installed plugins",
    register(program, env, cwd) {
      const { registerPluginsCommands } = require("../plugins/cli") as typeof import("../plugins/cli");
      const { loadPlugins } = require("../plugins/load") as typeof import("../plugins/load");
      registerPluginsCommands(program, { load: () => loadPlugins({ env, cwd }), print, warn });
    },
  },
  {
    name: "profile",
    description: "plan and resume experiment profiles",
    register(program, env, cwd) {
      const { registerProfileCommands } = require("./profile-cmd") as typeof import("./profile-cmd");
      registerProfileCommands(program, {
        env,
        cwd,
        setExitCode: (code) => {
          process.exitCode = code;
        },
      });
    },
  },
  {
    name: "serve",
    description: "run this unit's web server (/unit_api; /api and the UI on the leader)",
    register(program, env, cwd) {
      const { registerServeCommand } = require("./serve-cmd") as typeof import("./serve-cmd");
      registerServeCommand(program, { env, cwd, clock: new RealClock(), print });
    },
  },
  ...["kill", "jobs", "logs", "log"].map(
    (name): TopLevelCommand => ({
      name,
      description: {
        kill: "kill job(s)",
        jobs: "job-related commands",
        logs: "show recent logs",
        log: "append a log message from the CLI",
      }[name]!,
      register(program, env, cwd, configOverrides) {
        const { registerJobsCommands } = require("./jobs-cmd") as typeof import("./jobs-cmd");
        registerJobsCommands(program, {
          context: () => unitContext(env, cwd, configOverrides),
          print,
          signal: (pids) => {
            for (const pid of pids) {
              try {
                process.kill(pid, "SIGINT");
              } catch {
                // Already gone: nothing to stop.
              }
            }
          },
          turnOffLeds: () =>
            new Promise((resolve) => {
              (require("node:child_process") as typeof import("node:child_process")).execFile(process.execPath, [process.argv[1], "run", "led_intensity", "--A", "0", "--B", "0", "--C", "0", "--D", "0"], (err) =>
                resolve(!err),
              );
            }),
        });
      },
    }),
  ),
  {
    name: "config",
    description: "inspect and change configuration",
    register(program, env, cwd) {
      const { registerConfigCommands } = require("./config-cmd") as typeof import("./config-cmd");
      registerConfigCommands(program, { env, cwd, print, warn });
    },
  },
  {
    name: "mqtt",
    description: "print the MQTT traffic of the cluster (time | topic | payload)",
    register(program, env, cwd, configOverrides) {
      const { registerMqttCommand } = require("./mqtt-cmd") as typeof import("./mqtt-cmd");
      registerMqttCommand(program, {
        mqttOptions: () => {
          const { mqttOptionsFromConfig } = require("../pubsub/client") as typeof import("../pubsub/client");
          return mqttOptionsFromConfig(unitContext(env, cwd, configOverrides).config, env);
        },
        print,
        warn,
      });
    },
  },
  {
    name: "broker",
    description: "run the built-in MQTT broker (TCP and WebSocket)",
    register(program, env, cwd, configOverrides) {
      const { registerBrokerCommand, brokerDefaultsFromConfig } = require("./broker-cmd") as typeof import("./broker-cmd");
      registerBrokerCommand(program, { brokerDefaults: () => brokerDefaultsFromConfig(unitContext(env, cwd, configOverrides).config), print });
    },
  },
  {
    name: "db",
    description: "the leader database: shell, migrations, backups",
    register(program, env, cwd, configOverrides) {
      const { registerDbCommands } = require("./db-cmd") as typeof import("./db-cmd");
      registerDbCommands(program, {
        loadConfig: () => unitContext(env, cwd, configOverrides).config,
        clock: new RealClock(),
        print,
        runInteractive: (cmd, args) =>
          new Promise((resolve) => {
            const { spawn } = require("node:child_process") as typeof import("node:child_process");
            spawn(cmd, args, { stdio: "inherit" }).on("exit", (code) => resolve(code ?? 1));
          }),
      });
    },
  },
];

export function buildPioProgram(
  env: NodeJS.ProcessEnv,
  cwd: string,
  configOverrides: Array<[string, string, string]>,
  argv: string[] = [],
): Command {
  const { Command } = require("commander") as typeof import("commander");
  const program = new Command("pio")
    .description(
      "Execute commands on this Pioreactor.\n\nConfiguration available: $DOT_PIOREACTOR/config.ini\nSee full documentation: https://docs.pioreactor.com/user-guide/cli",
    )
    .version(SOFTWARE_VERSION, "--version", "print the Pioreactor software version and exit");
  // The first word that is not an option names the command to load (none: help only).
  const requested = argv.find((a) => !a.startsWith("-"));
  TOP_LEVEL.find((entry) => entry.name === requested)?.register(program, env, cwd, configOverrides);
  for (const entry of TOP_LEVEL) {
    if (program.commands.some((c) => c.name() === entry.name)) continue;
    program.command(entry.name).description(entry.description);
  }
  return program;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // The commonest quick query answers before commander and the command table are even loaded.
  if (args.length === 1 && (args[0] === "version" || args[0] === "--version")) {
    print(SOFTWARE_VERSION);
    return;
  }
  const { exitCodeFor, exitQuietlyOnClosedStdout, runProgram } = cliMain();
  exitQuietlyOnClosedStdout();
  const { extractConfigOverrides } = require("./config-overrides") as typeof import("./config-overrides");
  let argv = args;
  let overrides: Array<[string, string, string]> = [];
  try {
    ({ argv, overrides } = extractConfigOverrides(argv));
  } catch (e) {
    process.exit(exitCodeFor(e));
  }
  const program = buildPioProgram(process.env, process.cwd(), overrides, argv);
  const code = await runProgram(program, ["node", "pio", ...argv]);
  process.exitCode = process.exitCode || code;
}

if (require.main === module) {
  void main();
}
