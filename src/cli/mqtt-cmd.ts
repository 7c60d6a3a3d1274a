/**
 * `pio mqtt [-t TOPIC]`: watch the cluster's MQTT traffic, one `time | topic | payload` line per
 * message (retained ones first), until Ctrl-C. The original shells out to `mosquitto_sub`, which a
 * machine without Mosquitto lacks; this is a built-in subscriber with the same output.
 * The original offers it on the leader only; whoever composes `pio` decides where to register it.
 */
import type { Command } from "commander";
import { type ConnectMqttOptions, connectMqtt, MqttConnectionError, type MqttConnectionOptions } from "../pubsub/client";
import type { MqttMessage, PubSubClient } from "../pubsub/types";
import { CliError } from "./exit";

export interface MqttCommandDeps {
  /** The cluster's broker, usually `mqttOptionsFromConfig(config, env)`. */
  mqttOptions(): MqttConnectionOptions;
  /** Writes one line to stdout. */
  print(line: string): void;
  /** Writes one line of diagnostics to stderr. */
  warn?(line: string): void;
  /** Colour the three columns as the original does (default: when stdout is a terminal). */
  color?: boolean;
  /** Resolves when the command should stop (default: SIGINT or SIGTERM). */
  untilStopped?(): Promise<unknown>;
  /** For timestamps (default: the real time). */
  now?(): Date;
  connect?(opts: ConnectMqttOptions): Promise<PubSubClient>;
}

/**
 * Long-running commands (`pio mqtt`, `pio broker`) run until Ctrl-C or the service manager's
 * SIGTERM. The handlers are removed afterwards so a second Ctrl-C falls back to Node's default exit.
 */
export function untilSigintOrSigterm(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
      resolve(signal);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

const CYAN = "\x1b[36m";
const BRIGHT_GREEN = "\x1b[92m";
const BRIGHT_YELLOW = "\x1b[93m";
const RESET = "\x1b[0m";

/** Local time to the second, as mosquitto_sub's `%19.19I` (`2026-11-21T05:42:27`). */
export function localIsoSeconds(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** One output line: `time | topic | payload`, optionally coloured. */
export function formatMqttLine(when: Date, message: Pick<MqttMessage, "topic" | "payload">, color: boolean): string {
  const paint = (code: string, s: string) => (color ? `${code}${s}${RESET}` : s);
  const payload = message.payload.toString("utf8");
  return `${paint(CYAN, localIsoSeconds(when))} | ${paint(BRIGHT_GREEN, message.topic)} | ${paint(BRIGHT_YELLOW, payload)}`;
}

export function registerMqttCommand(program: Command, deps: MqttCommandDeps): Command {
  return program
    .command("mqtt")
    .description("print the MQTT traffic of the cluster (time | topic | payload) until Ctrl-C")
    .option("-t, --topic <filter>", "topic filter to watch; repeat for several", collect, [])
    .action(async (opts: { topic: string[] }) => {
      const filters = opts.topic.length > 0 ? opts.topic : ["pioreactor/#"];
      await watch(filters, deps);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function watch(filters: string[], deps: MqttCommandDeps): Promise<void> {
  const warn = deps.warn ?? (() => {});
  const color = deps.color ?? Boolean(process.stdout.isTTY);
  const now = deps.now ?? (() => new Date());
  const connect = deps.connect ?? connectMqtt;
  let client: PubSubClient;
  try {
    client = await connect({ clientIdBase: "pio-mqtt", ...deps.mqttOptions(), firstConnectionTimeoutMs: 10_000 });
  } catch (e) {
    if (e instanceof MqttConnectionError) throw new CliError(`${e.message}\n${e.hint}`);
    throw e;
  }
  try {
    client.onDisconnect(() => warn("Lost the connection to the MQTT broker; reconnecting…"));
    client.onReconnect(() => warn("Reconnected to the MQTT broker."));
    try {
      await client.subscribe(filters, (m) => deps.print(formatMqttLine(now(), m, color)), { qos: 2 });
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    await (deps.untilStopped ?? untilSigintOrSigterm)();
  } finally {
    await client.end();
  }
}
