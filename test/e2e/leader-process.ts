/**
 * A real leader for end-to-end tests: the compiled `pio serve` (dist/) as a child process with the
 * embedded broker (WebSocket at /mqtt on the web port), in a temp `$DOT_PIOREACTOR` made by
 * `ensureDevConfig`, TESTING=1, unit "leader" (loopback via `[cluster.addresses]`), and a `pio`
 * wrapper on PATH / `PIO_EXECUTABLE` so jobs started from the UI run our dist CLI; the leader is
 * registered as its own worker, assigned to the experiment, and runs `mqtt_to_db_streaming`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { ensureDevConfig } from "../../src/config/dev-config";
import { IniDocument } from "../../src/config/ini";
import { saveIniFile } from "../../src/config/ini-file";
import { connectMqtt, type MqttPubSubClient } from "../../src/pubsub/client";
import type { MqttMessage } from "../../src/pubsub/types";
import { freePort } from "../helpers/ports";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
export const DIST_PIO = path.join(REPO_ROOT, "dist", "src", "cli", "pio.js");
export const UNIT = "leader";

/** Why the compiled CLI cannot be used (missing, or older than the sources), else undefined. */
export function distProblem(): string | undefined {
  if (!fs.existsSync(DIST_PIO)) return `${path.relative(REPO_ROOT, DIST_PIO)} is missing (run \`npm run build\`)`;
  return undefined;
}

/** Sources newer than the compiled CLI (the run still goes ahead, on the old build). */
export function staleSources(): string[] {
  const built = fs.statSync(DIST_PIO).mtimeMs;
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".ts") && fs.statSync(p).mtimeMs > built) out.push(path.relative(REPO_ROOT, p));
    }
  };
  walk(path.join(REPO_ROOT, "src"));
  return out;
}


export interface Leader {
  dir: string;
  dot: string;
  url: string;
  brokerUrl: string;
  env: NodeJS.ProcessEnv;
  child: ChildProcess;
  /** Job processes that ignored the stop request and had to be killed at close. */
  leftovers: number[];
  /** Everything the server printed (stdout and stderr). */
  output(): string;
  /** A test MQTT client subscribed to `pioreactor/#`, recording every message. */
  mqtt: MqttPubSubClient;
  messages: MqttMessage[];
  /** Waits (up to `timeoutMs`) for a message whose topic matches and, if given, whose payload passes. */
  waitForMessage(topic: RegExp, payload?: (text: string) => boolean, timeoutMs?: number): Promise<MqttMessage>;
  // biome-ignore lint/suspicious/noExplicitAny: tests index into response JSON freely
  api(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }>;
  close(): Promise<void>;
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startLeader(opts: { uiDir: string; experiment: string }): Promise<Leader> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-e2e-"));
  const dot = path.join(dir, ".pioreactor");
  const webPort = await freePort();
  const brokerPort = await freePort();
  const configFile = ensureDevConfig({ dir: dot, leaderHostname: UNIT, brokerPort, webPort });
  const doc = IniDocument.parse(fs.readFileSync(configFile, "utf8"), { file: configFile });
  // The browser connects to ws://<broker_address>:<broker_ws_port>/mqtt: the web port, where pio serve --embedded-broker answers.
  doc.set("mqtt", "broker_ws_port", String(webPort));
  doc.set("cluster.addresses", UNIT, "127.0.0.1");
  saveIniFile(configFile, doc);

  // `pio` for job children (the launcher passes no PATH, so PIO_EXECUTABLE is what counts).
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  const pio = path.join(bin, "pio");
  fs.writeFileSync(pio, `#!/bin/sh\nexec "${process.execPath}" "${DIST_PIO}" "$@"\n`, { mode: 0o755 });

  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    HOME: dir,
    DOT_PIOREACTOR: dot,
    TESTING: "1",
    HOSTNAME: UNIT,
    PIO_EXECUTABLE: pio,
  };
  let out = "";
  const child = spawn(process.execPath, [DIST_PIO, "serve", "--port", String(webPort), "--host", "127.0.0.1", "--ui-dir", opts.uiDir, "--embedded-broker"], {
    cwd: dir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${webPort}`;
  const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  let mqtt: MqttPubSubClient | undefined;
  const leftovers: number[] = [];
  const runningJobPids = (): number[] => {
    const file = path.join(dot, "storage", "local_intermittent_pioreactor_metadata.sqlite");
    if (!fs.existsSync(file)) return [];
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare("SELECT pid FROM pio_job_metadata WHERE is_running = 1").all() as Array<{ pid: number | null }>)
        .map((r) => r.pid)
        .filter((p): p is number => typeof p === "number" && isAlive(p));
    } catch {
      return [];
    } finally {
      db.close();
    }
  };
  const stop = async () => {
    // Jobs started from the UI outlive the server (as on a Pioreactor): stop them while the broker is
    // up — through the API (which leaves long-running services alone), then services by SIGTERM, as systemd would.
    const waitGone = async (ids: number[], ms: number) => {
      const deadline = Date.now() + ms;
      while (ids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    };
    let pids = runningJobPids();
    if (pids.length > 0 && child.exitCode === null) {
      await fetch(`${url}/unit_api/jobs/stop/all`, { method: "POST" }).catch(() => {});
      await waitGone(pids, 3_000);
      for (const pid of pids.filter(isAlive)) process.kill(pid, "SIGTERM");
      await waitGone(pids, 10_000);
    }
    await mqtt?.end().catch(() => {});
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    pids = pids.filter(isAlive);
    for (const pid of pids) process.kill(pid, "SIGKILL");
    if (pids.length > 0) leftovers.push(...pids);
  };
  try {
    await until(
      "pio serve to answer /unit_api/health",
      async () => {
        if (child.exitCode !== null) throw Object.assign(new Error(`pio serve exited with ${child.exitCode}:\n${out}`), { fatal: true });
        return (await fetch(`${url}/unit_api/health`)).ok ? true : undefined;
      },
      30_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- pio serve output ---\n${out}`);
    });
    const messages: MqttMessage[] = [];
    mqtt = await connectMqtt({ url: brokerUrl, username: "pioreactor", password: "raspberry", clientIdBase: "e2e-listener" });
    await mqtt.subscribe("pioreactor/#", (m) => messages.push(m), { qos: 2 });
    const api = async (method: string, route: string, body?: unknown) => {
      const res = await fetch(`${url}${route}`, {
        method,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON
      }
      return { status: res.status, json };
    };
    // The cluster as the original sets it up: the leader is its own (only) worker, assigned to the experiment.
    const steps: Array<[string, string, unknown, number]> = [
      ["PUT", "/api/workers", { pioreactor_unit: UNIT, model_name: "pioreactor_40ml", model_version: "1.5" }, 201],
      ["POST", "/api/experiments", { experiment: opts.experiment, description: "end-to-end UI run" }, 201],
      ["PUT", `/api/experiments/${encodeURIComponent(opts.experiment)}/workers`, { pioreactor_unit: UNIT }, 200],
    ];
    for (const [method, route, body, status] of steps) {
      const r = await api(method, route, body);
      if (r.status !== status) throw new Error(`${method} ${route} → ${r.status} ${JSON.stringify(r.json)}`);
    }
    // The leader's long-running service that fills the database from MQTT (logs, profile runs), as systemd starts it on a Pioreactor.
    const streaming = await api("POST", "/unit_api/jobs/run/job_name/mqtt_to_db_streaming", {});
    if (streaming.status !== 202) throw new Error(`mqtt_to_db_streaming → ${streaming.status} ${JSON.stringify(streaming.json)}`);
    await until(
      "mqtt_to_db_streaming to be ready",
      () => (messages.some((m) => /\/mqtt_to_db_streaming\/\$state$/.test(m.topic) && m.payload.toString() === "ready") ? true : undefined),
      30_000,
    );
    const client = mqtt;
    return {
      dir,
      dot,
      url,
      brokerUrl,
      env,
      child,
      leftovers,
      output: () => out,
      mqtt: client,
      messages,
      waitForMessage: (topic, payload, timeoutMs = 15_000) =>
        until(
          `an MQTT message on ${topic}`,
          () => messages.find((m) => topic.test(m.topic) && (!payload || payload(m.payload.toString()))),
          timeoutMs,
        ),
      api,
      async close() {
        await stop();
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
