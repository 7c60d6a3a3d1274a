/**
 * `pio serve [--port N] [--host ADDR] [--ui-dir DIR] [--embedded-broker]`: this unit's web server
 * (`/unit_api`; plus `/api` and the UI on the leader), running database migrations first, until
 * SIGINT/SIGTERM. The original splits this over lighttpd, Flask and Huey; here it is one process.
 *
 * `pio serve --simulate [--units N | --units a,b] [--speed X] [--seed S]`: the leader of a simulated
 * cluster, so the web UI can be tried without hardware (src/sim/live/). Without a config.ini it
 * writes a development one (as `npm run demo:stirring` does) instead of failing.
 */
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import type { ProfileRunner } from "../leader/web/profile-runner";
import type { ServeHandle, ServeOptions } from "../leader/web/serve";
import type { Clock } from "../util/clock";
import { ensureDevConfig } from "../config/dev-config";
import { resolveConfigPath } from "../config/paths";
import { InvalidSimulationFlag, type LiveSimulationOptions, parseLiveSimulationFlags } from "../sim/live/options";
import { UsageError } from "./exit";

export interface ServeCommandDeps {
  env: NodeJS.ProcessEnv;
  cwd: string;
  clock: Clock;
  print(line: string): void;
  profileRunner?: ProfileRunner;
  /** Resolves when the server should stop (default: SIGINT or SIGTERM). */
  untilStopped?(): Promise<unknown>;
  /** Replaces the real composition (tests). */
  serve?(opts: ServeOptions): Promise<ServeHandle>;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new UsageError(`Invalid value for '--port': '${text}' is not a port number (0-65535).`);
  return n;
}

interface ServeFlags {
  port?: number;
  host: string;
  uiDir?: string;
  embeddedBroker?: boolean;
  simulate?: boolean;
  units?: string;
  speed?: string;
  seed?: string;
}

function simulationOptions(o: ServeFlags): LiveSimulationOptions | undefined {
  if (!o.simulate) {
    const stray = (["units", "speed", "seed"] as const).find((k) => o[k] !== undefined);
    if (stray) throw new UsageError(`'--${stray}' only applies with '--simulate'.`);
    return undefined;
  }
  try {
    return parseLiveSimulationFlags(o);
  } catch (e) {
    if (e instanceof InvalidSimulationFlag) throw new UsageError(e.message);
    throw e;
  }
}

/** A flag found bad only once the config is read (a `--units` name that is the leader's) is still a usage error. */
async function asUsageError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (e) {
    if (e instanceof InvalidSimulationFlag) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * A simulation needs no Pi's config: when config.ini is missing (and GLOBAL_CONFIG does not name
 * one), a development config is written to `$DOT_PIOREACTOR`, else `./.pioreactor-dev`.
 */
function simulationEnv(env: NodeJS.ProcessEnv, cwd: string, print: (line: string) => void): NodeJS.ProcessEnv {
  const resolved = resolveConfigPath("global", env, cwd);
  if (fs.existsSync(resolved.path) || env.GLOBAL_CONFIG) return env;
  const dir = env.DOT_PIOREACTOR ? path.resolve(cwd, env.DOT_PIOREACTOR) : path.join(cwd, ".pioreactor-dev");
  ensureDevConfig({ dir });
  print(`No config.ini at ${resolved.path}: using the development config in ${dir}.`);
  return { ...env, DOT_PIOREACTOR: dir };
}

export function registerServeCommand(program: Command, deps: ServeCommandDeps): Command {
  return program
    .command("serve")
    .description("run this unit's web server (/unit_api; /api and the UI on the leader)")
    .option("--port <port>", "port to listen on (default: [ui] port, 80)", parsePort)
    .option("--host <address>", "interface to listen on", "0.0.0.0")
    .option("--ui-dir <dir>", "directory of the prebuilt UI bundle (index.html, static/…)", deps.env.PIOREACTOR_UI_DIR)
    .option("--embedded-broker", "also run the built-in MQTT broker (WebSocket at /mqtt on the same port)")
    .option("--simulate", "be the leader of simulated workers (no hardware; starts the embedded broker if none answers)")
    .option("--units <n|names>", "with --simulate: how many simulated workers, or their names comma-separated (default 2: sim-unit1,sim-unit2)")
    .option("--speed <x>", "with --simulate: simulated time per real time (default 1, real time)")
    .option("--seed <s>", "with --simulate: seed for the simulated cultures and sensor noise (default 1)")
    .action(async (o: ServeFlags) => {
      const simulate = simulationOptions(o);
      const env = simulate ? simulationEnv(deps.env, deps.cwd, deps.print) : deps.env;
      const start = deps.serve ?? (require("../leader/web/serve") as typeof import("../leader/web/serve")).serve;
      const handle = await asUsageError(start({
        env,
        cwd: deps.cwd,
        clock: deps.clock,
        port: o.port,
        host: o.host,
        uiDir: o.uiDir,
        embeddedBroker: Boolean(o.embeddedBroker),
        profileRunner: deps.profileRunner,
        log: deps.print,
        simulate,
      }));
      try {
        await (deps.untilStopped ?? untilSignal)();
      } finally {
        await handle.close();
      }
    });
}
