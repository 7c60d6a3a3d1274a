/**
 * `pio broker [--port 1883] [--ws-port 9001] [--host 0.0.0.0] [--persistence FILE]`: run the
 * embedded MQTT broker on its own (a leader without Mosquitto), until SIGINT/SIGTERM. Like the
 * original's Mosquitto it admits only the `[mqtt]` user; unlike it, `--persistence` keeps retained
 * messages (job states, settings) across restarts.
 */
import type { Command } from "commander";
import { type EmbeddedBroker, type EmbeddedBrokerOptions, startEmbeddedBroker } from "../pubsub/broker";
import type { ConfigReader } from "../config/types";
import type { PubSubLogger } from "../pubsub/types";
import { CliError, UsageError } from "./exit";
import { untilSigintOrSigterm } from "./mqtt-cmd";

/** What the configuration says the broker should look like. */
export interface BrokerDefaults {
  port: number;
  wsPort: number;
  username: string;
  password: string;
}

/** `[mqtt] broker_port` (1883), `broker_ws_port` (9001), `username`/`password` (pioreactor/raspberry). */
export function brokerDefaultsFromConfig(config: ConfigReader): BrokerDefaults {
  return {
    port: config.getInt("mqtt", "broker_port", 1883),
    wsPort: config.getInt("mqtt", "broker_ws_port", 9001),
    username: config.getString("mqtt", "username", "pioreactor"),
    password: config.getString("mqtt", "password", "raspberry"),
  };
}

export interface BrokerCommandDeps {
  brokerDefaults(): BrokerDefaults;
  /** Writes one line to stdout. */
  print(line: string): void;
  /** Broker diagnostics (refused clients, snapshot problems); default: stderr for warnings and errors. */
  logger?: PubSubLogger;
  /** Resolves when the broker should stop (default: SIGINT or SIGTERM). */
  untilStopped?(): Promise<unknown>;
  start?(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker>;
}

interface BrokerCliOptions {
  port?: string;
  wsPort?: string;
  ws: boolean;
  host: string;
  persistence?: string;
  allowAnonymous?: boolean;
}

function stderrLogger(): PubSubLogger {
  const line = (m: string) => process.stderr.write(`${m}\n`);
  return { debug: () => {}, info: () => {}, warn: line, error: line };
}

function parsePort(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new UsageError(`Invalid value for '${flag}': '${text}' is not a port number (0-65535).`);
  return n;
}

export function registerBrokerCommand(program: Command, deps: BrokerCommandDeps): Command {
  return program
    .command("broker")
    .description("run the built-in MQTT broker (TCP and WebSocket) until stopped")
    .option("--port <port>", "TCP port (default: [mqtt] broker_port, 1883)")
    .option("--ws-port <port>", "WebSocket port for the UI, served at /mqtt (default: [mqtt] broker_ws_port, 9001)")
    .option("--no-ws", "do not serve WebSocket")
    .option("--host <address>", "interface to listen on", "0.0.0.0")
    .option("--persistence <file>", "keep retained messages in this JSON file across restarts")
    .option("--allow-anonymous", "accept clients without the [mqtt] username/password")
    .action(async (opts: BrokerCliOptions) => {
      const defaults = deps.brokerDefaults();
      const port = opts.port === undefined ? defaults.port : parsePort("--port", opts.port);
      const wsPort = !opts.ws ? undefined : opts.wsPort === undefined ? defaults.wsPort : parsePort("--ws-port", opts.wsPort);
      const start = deps.start ?? startEmbeddedBroker;
      let broker: EmbeddedBroker;
      try {
        broker = await start({
          port,
          wsPort,
          host: opts.host,
          persistenceFile: opts.persistence,
          username: opts.allowAnonymous ? undefined : defaults.username,
          password: opts.allowAnonymous ? undefined : defaults.password,
          logger: deps.logger ?? stderrLogger(),
        });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === "EADDRINUSE") {
          throw new CliError(`Cannot start the broker: ${opts.host} port ${(err as { port?: number }).port ?? port} is already in use (is Mosquitto running?).`);
        }
        if (err.code === "EACCES") throw new CliError(`Cannot start the broker: no permission to listen on ${opts.host}:${port}.`);
        throw e;
      }
      const where = `mqtt://${opts.host}:${broker.port}${broker.wsPort !== undefined ? ` and ws://${opts.host}:${broker.wsPort}/mqtt` : ""}`;
      const retained = opts.persistence ? `, retained messages kept in ${opts.persistence}` : "";
      deps.print(`MQTT broker listening on ${where}${retained}. Press Ctrl-C to stop.`);
      try {
        await (deps.untilStopped ?? untilSigintOrSigterm)();
      } finally {
        await broker.close();
      }
      deps.print("MQTT broker stopped.");
    });
}
