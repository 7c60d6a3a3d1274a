/**
 * Job start/stop latency and footprint of `pio run stirring` as a separate process, the way users
 * and the web server start jobs:
 *   - spawn → retained `$state` = `ready`
 *   - `pio kill --job-name stirring` → `$state` = `disconnected`
 *   - the job process's RSS once ready
 *   - wall time of `pio --help` and `pio version`
 *
 * Run: npm run bench:lifecycle   (builds, then node dist/bench/job-lifecycle.js [runs])
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureDevConfig } from "../src/config/dev-config";
import { startEmbeddedBroker } from "../src/pubsub/broker";
import { connectMqtt } from "../src/pubsub/client";

const ROOT = path.resolve(__dirname, "..", "..");
const PIO = path.join(ROOT, "dist", "src", "cli", "pio.js");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0");
  return kb / 1024;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  if (!fs.existsSync(PIO)) throw new Error(`build first: ${PIO} is missing`);
  const broker = await startEmbeddedBroker({ port: 0 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-"));
  ensureDevConfig({ dir, brokerPort: broker.port });
  const env = { PATH: process.env.PATH, TESTING: "1", DOT_PIOREACTOR: dir, GLOBAL_CONFIG: path.join(dir, "config.ini"), HOSTNAME: "benchunit", EXPERIMENT: "exp1" };
  const watcher = await connectMqtt({ url: broker.url, clientIdBase: "bench" });
  let lastState = "";
  let stateChanged: () => void = () => {};
  await watcher.subscribe("pioreactor/benchunit/exp1/stirring/$state", (m) => {
    lastState = m.payload.toString();
    stateChanged();
  }, { qos: 1 });
  const waitState = (s: string) =>
    new Promise<void>((resolve) => {
      if (lastState === s) return resolve();
      stateChanged = () => {
        if (lastState === s) resolve();
      };
    });

  const toReady: number[] = [];
  const toReadyExcludingKick: number[] = [];
  const toStop: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < runs; i++) {
    lastState = "";
    const t0 = performance.now();
    const child = spawn(process.execPath, [PIO, "run", "stirring"], { env, stdio: "ignore" });
    await waitState("ready");
    const ready = performance.now() - t0;
    toReady.push(ready);
    // The original (and this port) holds the motor at 100 % for 0.5 s before `ready`.
    toReadyExcludingKick.push(ready - 500);
    await new Promise((r) => setTimeout(r, 300));
    rss.push(rssMb(child.pid!));
    const t1 = performance.now();
    spawnSync(process.execPath, [PIO, "kill", "--job-name", "stirring"], { env });
    await waitState("disconnected");
    toStop.push(performance.now() - t1);
    await new Promise((r) => child.on("exit", r));
  }

  const time = (args: string[]) => {
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      spawnSync(process.execPath, [PIO, ...args], { env });
      xs.push(performance.now() - t);
    }
    return median(xs);
  };
  const help = time(["--help"]);
  const version = time(["version"]);

  await watcher.end();
  await broker.close();
  fs.rmSync(dir, { recursive: true, force: true });
  const f = (ms: number) => `${(ms / 1000).toFixed(3)} s`;
  console.log(`runs: ${runs} (medians), node ${process.version}, ${os.cpus().length} cores`);
  console.log(`spawn → $state ready:                 ${f(median(toReady))}`);
  console.log(`  of which the 0.5 s start-up kick:   0.500 s (deliberate, as the original)`);
  console.log(`  ready without the kick:             ${f(median(toReadyExcludingKick))}`);
  console.log(`pio kill → $state disconnected:       ${f(median(toStop))}`);
  console.log(`job process RSS when ready:           ${median(rss).toFixed(1)} MB`);
  console.log(`pio --help:                           ${f(help)}`);
  console.log(`pio version:                          ${f(version)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
