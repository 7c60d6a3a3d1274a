#!/usr/bin/env node
/**
 * `pio`: commands on this Pioreactor. A thin shell over the library: each command group lives in
 * its own module and loads what it needs only when it runs.
 */
import { execFile } from "node:child_process";
import { Command } from "commander";
import { RealClock } from "../util/clock";
import { exitCodeFor, runProgram } from "./main";
import { SOFTWARE_VERSION } from "./version";

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function warn(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function buildPioProgram(env: NodeJS.ProcessEnv, cwd: string, configOverrides: Array<[string, string, string]>): Command {
  const program = new Command("pio")
    .description(
      "Execute commands on this Pioreactor.\n\nConfiguration available: $DOT_PIOREACTOR/config.ini\nSee full documentation: https://docs.pioreactor.com/user-guide/cli",
    )
    .version(SOFTWARE_VERSION, "--version", "print the Pioreactor software version and exit");

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

  const context = () => {
    const { UnitContext } = require("../jobs/unit-context") as typeof import("../jobs/unit-context");
    return new UnitContext({ env, cwd, configOverrides, embeddedBroker: env.PIOREACTOR_EMBEDDED_BROKER === "1" });
  };

  const { registerRunCommand } = require("./run-cmd") as typeof import("./run-cmd");
  const { builtinCatalog } = require("../jobs/catalog") as typeof import("../jobs/catalog");
  registerRunCommand(program, {
    env,
    cwd,
    configOverrides,
    catalog: builtinCatalog(),
    setExitCode: (code) => {
      process.exitCode = code;
    },
  });

  const { registerJobsCommands } = require("./jobs-cmd") as typeof import("./jobs-cmd");
  registerJobsCommands(program, {
    context,
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
        execFile(process.execPath, [process.argv[1], "run", "led_intensity", "--A", "0", "--B", "0", "--C", "0", "--D", "0"], (err) =>
          resolve(!err),
        );
      }),
  });

  const { registerConfigCommands } = require("./config-cmd") as typeof import("./config-cmd");
  registerConfigCommands(program, { env, cwd, print, warn });

  const { registerMqttCommand } = require("./mqtt-cmd") as typeof import("./mqtt-cmd");
  registerMqttCommand(program, {
    mqttOptions: () => {
      const ctx = context();
      const { mqttOptionsFromConfig } = require("../pubsub/client") as typeof import("../pubsub/client");
      return mqttOptionsFromConfig(ctx.config, env);
    },
    print,
    warn,
  });

  const { registerBrokerCommand, brokerDefaultsFromConfig } = require("./broker-cmd") as typeof import("./broker-cmd");
  registerBrokerCommand(program, { brokerDefaults: () => brokerDefaultsFromConfig(context().config), print });

  const { registerDbCommands } = require("./db-cmd") as typeof import("./db-cmd");
  registerDbCommands(program, {
    loadConfig: () => context().config,
    clock: new RealClock(),
    print,
    runInteractive: (cmd, args) =>
      new Promise((resolve) => {
        const { spawn } = require("node:child_process") as typeof import("node:child_process");
        spawn(cmd, args, { stdio: "inherit" }).on("exit", (code) => resolve(code ?? 1));
      }),
  });
  return program;
}

async function main(): Promise<void> {
  const { extractConfigOverrides } = require("./run-cmd") as typeof import("./run-cmd");
  let argv = process.argv.slice(2);
  let overrides: Array<[string, string, string]> = [];
  try {
    ({ argv, overrides } = extractConfigOverrides(argv));
  } catch (e) {
    process.exit(exitCodeFor(e));
  }
  const program = buildPioProgram(process.env, process.cwd(), overrides);
  const code = await runProgram(program, ["node", "pio", ...argv]);
  process.exitCode = process.exitCode || code;
}

if (require.main === module) {
  void main();
}
