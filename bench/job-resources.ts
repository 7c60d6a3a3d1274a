/**
 * CPU and memory of each job at its default rates (issue 3): every job is started the way a
 * user starts it, `pio run <job>` as its own process (simulated hardware, TESTING=1, embedded
 * broker), one at a time. Once its `$state` is `ready` the script samples /proc/<pid>/stat
 * (utime + stime) and /proc/<pid>/status (VmRSS) every second for the window, then stops the
 * job with `pio kill`.
 *
 * Reported per job: CPU % of one core over the window (CPU seconds / wall seconds), the CPU
 * seconds spent starting up (spawn → ready), RSS at the end of the window and its peak.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/job-resources.js [windowSeconds=25] [job …]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureDevConfig } from "../src/config/dev-config";
import { startEmbeddedBroker } from "../src/pubsub/broker";
import { connectMqtt } from "../src/pubsub/client";

const ROOT = path.resolve(__dirname, "..", "..");
const PIO = path.join(ROOT, "dist", "src", "cli", "pio.js");
const UNIT = "benchunit";
const EXPERIMENT = "exp1";

interface JobSpec {
  /** Label in the table. */
  label: string;
  /** The job name whose `$state` says it is ready. */
  jobName: string;
  args: string[];
  /** Jobs to start first and keep running (inputs the job consumes), not measured. */
  needs?: JobSpec[];
}

const OD: JobSpec = { label: "od_reading", jobName: "od_reading", args: ["od_reading"] };
const JOBS: JobSpec[] = [
  { label: "stirring", jobName: "stirring", args: ["stirring"] },
  OD,
  { label: "growth_rate_calculating (od_reading running)", jobName: "growth_rate_calculating", args: ["growth_rate_calculating"], needs: [OD] },
  {
    label: "temperature_automation thermostat 30 ℃",
    jobName: "temperature_automation",
    args: ["temperature_automation", "--automation-name", "thermostat", "--target-temperature", "30"],
  },
  { label: "dosing_automation silent", jobName: "dosing_automation", args: ["dosing_automation", "--automation-name", "silent"] },
  { label: "monitor", jobName: "monitor", args: ["monitor"] },
];

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ). */
function clockTicks(): number {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout.trim());
  return n > 0 ? n : 100;
}

/** utime + stime in ticks. Fields after the parenthesised command name: state is field 3, utime 14, stime 15. */
function cpuTicks(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(rest[11]) + Number(rest[12]);
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  label: string;
  cpuPercent: number;
  startupCpuSeconds: number;
  readySeconds: number;
  rssMb: number;
  peakRssMb: number;
}

async function main(): Promise<void> {
  const windowSeconds = Number(process.argv[2] ?? 25);
  const only = process.argv.slice(3);
  if (!fs.existsSync(PIO)) throw new Error(`build first (npx tsc -p tsconfig.build.json): ${PIO} is missing`);
  const ticks = clockTicks();
  const broker = await startEmbeddedBroker({ port: 0 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-res-"));
  ensureDevConfig({ dir, brokerPort: broker.port });
  const env = {
    PATH: process.env.PATH,
    TESTING: "1",
    DOT_PIOREACTOR: dir,
    GLOBAL_CONFIG: path.join(dir, "config.ini"),
    HOSTNAME: UNIT,
    EXPERIMENT,
  };
  const states = new Map<string, string>();
  const waiters: Array<() => void> = [];
  const watcher = await connectMqtt({ url: broker.url, clientIdBase: "bench" });
  await watcher.subscribe(
    `pioreactor/${UNIT}/+/+/$state`,
    (m) => {
      states.set(m.topic.split("/")[3], m.payload.toString());
      for (const w of waiters.splice(0)) w();
    },
    { qos: 1 },
  );
  const waitState = async (jobName: string, state: string, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (states.get(jobName) !== state) {
      if (Date.now() > deadline) throw new Error(`${jobName} did not reach ${state} within ${timeoutMs / 1000} s`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(250)]);
    }
  };
  const start = (spec: JobSpec): ChildProcess => {
    states.delete(spec.jobName);
    const child = spawn(process.execPath, [PIO, "run", ...spec.args], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += String(d);
    });
    child.on("exit", (code) => {
      if (code !== 0 && code !== null) console.error(`${spec.label} exited with ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    });
    return child;
  };
  const stop = async (spec: JobSpec, child: ChildProcess) => {
    const exited = new Promise((r) => (child.exitCode !== null ? r(null) : child.on("exit", r)));
    spawnSync(process.execPath, [PIO, "kill", "--job-name", spec.jobName], { env });
    await Promise.race([exited, sleep(10_000)]);
    if (child.exitCode === null) child.kill("SIGKILL");
  };

  const rows: Row[] = [];
  for (const spec of JOBS) {
    if (only.length && !only.some((o) => spec.label.startsWith(o))) continue;
    const helpers: Array<[JobSpec, ChildProcess]> = [];
    for (const need of spec.needs ?? []) {
      const c = start(need);
      await waitState(need.jobName, "ready");
      helpers.push([need, c]);
    }
    const t0 = performance.now();
    const child = start(spec);
    const pid = child.pid!;
    await waitState(spec.jobName, "ready");
    const readySeconds = (performance.now() - t0) / 1000;
    const startupTicks = cpuTicks(pid);
    const w0 = performance.now();
    let peak = rssMb(pid);
    for (let s = 0; s < windowSeconds; s++) {
      await sleep(1000);
      peak = Math.max(peak, rssMb(pid));
    }
    const used = (cpuTicks(pid) - startupTicks) / ticks;
    const wall = (performance.now() - w0) / 1000;
    rows.push({ label: spec.label, cpuPercent: (100 * used) / wall, startupCpuSeconds: startupTicks / ticks, readySeconds, rssMb: rssMb(pid), peakRssMb: peak });
    await stop(spec, child);
    for (const [need, c] of helpers.reverse()) await stop(need, c);
  }

  await watcher.end();
  await broker.close();
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`window ${windowSeconds} s per job after ready; node ${process.version}; ${os.cpus().length} cores; load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log("| job | CPU % of one core (window) | CPU s to start | spawn → ready | RSS end | RSS peak |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.label} | ${r.cpuPercent.toFixed(2)} | ${r.startupCpuSeconds.toFixed(2)} | ${r.readySeconds.toFixed(2)} s | ${r.rssMb.toFixed(1)} MB | ${r.peakRssMb.toFixed(1)} MB |`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
