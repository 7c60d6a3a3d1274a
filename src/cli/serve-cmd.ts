/**
 * `pio serve [--port N] [--host ADDR] [--ui-dir DIR] [--embedded-broker]`: this unit's web server
 * (`/unit_api`; plus `/api` and the UI on the leader), running database migrations first, until
 * SIGINT/SIGTERM. The original splits this over lighttpd, Flask and Huey; here it is one process.
 */
import type { Command } from "commander";
import type { ProfileRunner } from "../leader/web/profile-runner";
import type { ServeHandle, ServeOptions } from "../leader/web/serve";
import type { Clock } from "../util/clock";
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

export function registerServeCommand(program: Command, deps: ServeCommandDeps): Command {
  return program
    .command("serve")
    .description("run this unit's web server (/unit_api; /api and the UI on the leader)")
    .option("--port <port>", "port to listen on (default: [ui] port, 80)", parsePort)
    .option("--host <address>", "interface to listen on", "0.0.0.0")
    .option("--ui-dir <dir>", "directory of the prebuilt UI bundle (index.html, static/…)", deps.env.PIOREACTOR_UI_DIR)
    .option("--embedded-broker", "also run the built-in MQTT broker (WebSocket at /mqtt on the same port)")
    .action(async (o: { port?: number; host: string; uiDir?: string; embeddedBroker?: boolean }) => {
      const start = deps.serve ?? (require("../leader/web/serve") as typeof import("../leader/web/serve")).serve;
      const handle = await start({
        env: deps.env,
        cwd: deps.cwd,
        clock: deps.clock,
        port: o.port,
        host: o.host,
        uiDir: o.uiDir,
        embeddedBroker: Boolean(o.embeddedBroker),
        profileRunner: deps.profileRunner,
        log: deps.print,
      });
      try {
        await (deps.untilStopped ?? untilSignal)();
      } finally {
        await handle.close();
      }
    });
}
