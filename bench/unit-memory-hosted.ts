/**
 * Memory of a whole unit: `pio serve` (the unit API) plus monitor, stirring, od_reading,
 * growth_rate_calculating, temperature_automation (thermostat) and dosing_automation (silent),
 * every job started through `/unit_api/jobs/run/job_name/<job>` as the leader's fan-out does, on
 * simulated hardware (TESTING=1), with the embedded broker in this bench process (not counted).
 *
 * `--hosted` (default): `[pio_serve] host_jobs = true`, the jobs run inside the daemon; reported
 * is the daemon's RSS (/proc/<pid>/status VmRSS) and PSS (/proc/<pid>/smaps_rollup).
 * `--children`: the original's way, each job a `pio run` child; reported are the sums over the
 * daemon and the children (pids from the job registry).
 *
 * Samples are taken once every job is `ready` and again after the settle window.
 *
 * Run: npx tsc -p tsconfig.build.json && node dist/bench/unit-memory-hosted.js [--hosted|--children] [settleSeconds=30]
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { ensureDevConfig } from "../src/config/dev-config";
import { startEmbeddedBroker } from "../src/pubsub/broker";
import { connectMqtt } from "../src/pubsub/client";

const ROOT = path.resolve(__dirname, "..", "..");
const PIO = path.join(ROOT, "dist", "src", "cli", "pio.js");
const UNIT = "benchunit";
const EXPERIMENT = "exp1";

const JOBS: Array<{ job: string; options?: Record<string, unknown> }> = [
  { job: "monitor" },
  { job: "stirring" },
  { job: "od_reading" },
  { job: "growth_rate_calculating" },
  { job: "temperature_automation", options: { automation_name: "thermostat", target_temperature: 30 } },
  { job: "dosing_automation", options: { automation_name: "silent" } },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memoryMb(pid: number): { rss: number; pss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024;
  const peak = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? "0") / 1024;
  const pss = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? "0") / 1024;
  return { rss, pss, peak };
}

function runningPids(cacheFile: string): number[] {
  const db = new Database(cacheFile, { readonly: true });
  try {
    return (db.prepare("SELECT DISTINCT pid FROM pio_job_metadata WHERE is_running = 1").all() as Array<{ pid: number }>).map((r) => r.pid);
  } finally {
    db.close();
  }
}

async function startServe(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, [PIO, "serve", "--port", "0", "--host", "127.0.0.1"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  for (let i = 0; i < 600; i++) {
    const port = /on port (\d+)/.exec(out)?.[1];
    if (port) return { child, base: `http://127.0.0.1:${port}` };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`pio serve did not start:\n${out}`);
}

async function startJob(base: string, job: string, options: Record<string, unknown>): Promise<void> {
  const accepted = await fetch(`${base}/unit_api/jobs/run/job_name/${job}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ options, env: { EXPERIMENT, JOB_SOURCE: "user" } }),
  });
  if (accepted.status !== 202) throw new Error(`${job}: HTTP ${accepted.status} ${await accepted.text()}`);
  const { result_url_path } = (await accepted.json()) as { result_url_path: string };
  for (;;) {
    const outcome = (await (await fetch(`${base}${result_url_path}`)).json()) as { status: string; error?: string };
    if (outcome.status === "succeeded") return;
    if (outcome.status === "failed") throw new Error(`${job} failed to start: ${outcome.error}`);
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const hosted = !args.includes("--children");
  const settleSeconds = Number(args.find((a) => /^\d+$/.test(a)) ?? "30");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-unit-memory-"));
  const broker = await startEmbeddedBroker({ port: 0 });
  const config = ensureDevConfig({ dir, brokerPort: broker.port, leaderHostname: "leader" });
  fs.appendFileSync(config, `\n[pio_serve]\nhost_jobs=${hosted ? "true" : "false"}\n`);
  const cacheFile = path.join(dir, "storage", "local_intermittent_pioreactor_metadata.sqlite");
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, TESTING: "1", DOT_PIOREACTOR: dir, GLOBAL_CONFIG: config, HOSTNAME: UNIT };
  const ready = new Set<string>();
  const watcher = await connectMqtt({ url: broker.url, clientIdBase: "bench-watcher" });
  await watcher.subscribe(`pioreactor/${UNIT}/+/+/$state`, (m) => {
    const job = m.topic.split("/")[3];
    // Automations sleep around each OD reading (dodging): asleep is alive.
    if (["ready", "sleeping"].includes(m.payload.toString())) ready.add(job);
    else ready.delete(job);
  });
  const serve = await startServe(env);
  const servePid = serve.child.pid!;
  try {
    await sleep(2000);
    const idle = memoryMb(servePid);
    const t0 = Date.now();
    for (const { job, options } of JOBS) {
      await startJob(serve.base, job, options ?? {});
      // The route debounces per job name only; waiting for `ready` keeps start-ups from overlapping.
      while (!ready.has(job)) {
        if (Date.now() - t0 > 120_000) throw new Error(`${job} never reached ready`);
        await sleep(100);
      }
    }
    const allReadySeconds = (Date.now() - t0) / 1000;
    const sample = () => {
      const pids = hosted ? [servePid] : [servePid, ...runningPids(cacheFile).filter((p) => p !== servePid)];
      const total = { rss: 0, pss: 0, peak: 0, processes: pids.length };
      for (const pid of pids) {
        const m = memoryMb(pid);
        total.rss += m.rss;
        total.pss += m.pss;
        total.peak += m.peak;
      }
      return total;
    };
    const atReady = sample();
    await sleep(settleSeconds * 1000);
    const settled = sample();
    const f = (n: number) => n.toFixed(1);
    console.log(`mode: ${hosted ? "hosted (one pio serve process)" : "children (pio serve + one pio run per job)"}`);
    console.log(`pio serve alone, before any job: RSS ${f(idle.rss)} MB, PSS ${f(idle.pss)} MB`);
    console.log(`all ${JOBS.length} jobs ready after ${allReadySeconds.toFixed(1)} s`);
    console.log(`at ready: ${atReady.processes} process(es), RSS ${f(atReady.rss)} MB, PSS ${f(atReady.pss)} MB`);
    console.log(`after ${settleSeconds} s: ${settled.processes} process(es), RSS ${f(settled.rss)} MB, PSS ${f(settled.pss)} MB, peak RSS (VmHWM) ${f(settled.peak)} MB`);
    console.log(`jobs ready at the end: ${[...ready].sort().join(", ")}`);
  } finally {
    serve.child.kill("SIGTERM");
    await new Promise((r) => serve.child.once("exit", r));
    if (!hosted) for (const pid of runningPids(cacheFile)) {
      try {
        process.kill(pid, "SIGINT");
      } catch {
        // already gone
      }
    }
    await sleep(hosted ? 0 : 3000);
    await watcher.end();
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
