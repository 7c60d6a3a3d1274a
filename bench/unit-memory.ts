/**
 * Memory of a full unit: `pio serve` (dist) with the jobs a running experiment has — monitor,
 * stirring, od_reading, growth_rate_calculating, temperature_automation (thermostat) and
 * dosing_automation (silent) — started through its unit API as the UI starts them, on the
 * simulated hardware, then measured after SETTLE_SECONDS (default 30).
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/unit-memory.js [settle-seconds]
 *
 * Jobs started through the API run as `pio run` children of the server (the only mode the launcher
 * has so far), so the unit's memory is the sum over the server and its child processes. Reported:
 * RSS (what the original's "6 × 34 MB + 52 MB + 35 MB" adds up) and PSS (shared pages — Node's
 * own code, the mapped database — divided among the processes that share them, so the sum is what
 * the unit really uses). The broker runs in this process and is not counted (on a unit it is
 * Mosquitto, a separate program, in the original's figure too).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { ensureDevConfig } from "../src/config/dev-config";
import { startEmbeddedBroker } from "../src/pubsub/broker";

const ROOT = path.resolve(__dirname, "..", "..");
const PIO = path.join(ROOT, "dist", "src", "cli", "pio.js");

const JOBS: Array<{ job: string; options: Record<string, string | null> }> = [
  { job: "monitor", options: {} },
  { job: "stirring", options: { target_rpm: "500" } },
  { job: "od_reading", options: {} },
  { job: "growth_rate_calculating", options: {} },
  { job: "temperature_automation", options: { automation_name: "thermostat", target_temperature: "32" } },
  // chemostat/turbidostat refuse to start without pump calibrations; silent runs the same loop.
  { job: "dosing_automation", options: { automation_name: "silent" } },
];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The process and every descendant, from /proc. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

function memoryOf(pid: number): { rssMb: number; pssMb: number; command: string } {
  const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? "0");
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  const runAt = cmdline.indexOf("run");
  const command = runAt >= 0 ? `pio run ${cmdline.slice(runAt + 1).find((a) => !a.startsWith("-")) ?? ""}` : cmdline.slice(1, 3).map((a) => path.basename(a)).join(" ");
  return { rssMb: kb(status, "VmRSS") / 1024, pssMb: kb(rollup, "Pss") / 1024, command };
}

async function waitForHttp(url: string, server: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`pio serve exited with code ${server.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`pio serve did not answer at ${url} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const settleSeconds = Number(process.argv[2] ?? 30);
  if (!fs.existsSync(PIO)) throw new Error(`build first: ${PIO} is missing`);
  const broker = await startEmbeddedBroker({ port: 0 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-bench-unit-"));
  const webPort = await freePort();
  ensureDevConfig({ dir, brokerPort: broker.port, webPort });
  const env = {
    PATH: process.env.PATH,
    TESTING: "1",
    PIOREACTOR_HARDWARE: "sim",
    DOT_PIOREACTOR: dir,
    GLOBAL_CONFIG: path.join(dir, "config.ini"),
  };
  const log = fs.openSync(path.join(dir, "serve.log"), "w");
  const server = spawn(process.execPath, [PIO, "serve", "--port", String(webPort), "--host", "127.0.0.1"], { env, stdio: ["ignore", log, log] });
  const base = `http://127.0.0.1:${webPort}`;
  let measured = false;
  try {
    await waitForHttp(`${base}/unit_api/health`, server, 30_000);
    for (const { job, options } of JOBS) {
      const r = await fetch(`${base}/unit_api/jobs/run/job_name/${job}`, {
        method: "POST",
        body: JSON.stringify({ options, env: { JOB_SOURCE: "user" } }),
      });
      if (r.status !== 202) throw new Error(`starting ${job}: HTTP ${r.status} ${await r.text()}`);
      // The unit API refuses a second start of the same job within a second; different jobs are
      // fine, but starting them a little apart is closer to a user clicking through the cards.
      await new Promise((res) => setTimeout(res, 1100));
    }
    await new Promise((res) => setTimeout(res, settleSeconds * 1000));
    const running = (await (await fetch(`${base}/unit_api/jobs/running`)).json()) as Array<{ job_name: string }>;
    const rows = processTree(server.pid as number).map((pid) => ({ pid, ...memoryOf(pid) }));
    const names = running.map((j) => j.job_name);
    const missing = JOBS.map((j) => j.job).filter((j) => !names.includes(j));
    if (missing.length > 0) throw new Error(`not running after ${settleSeconds} s: ${missing.join(", ")} (see ${dir}/pioreactor.log)`);
    console.log("| process | RSS MB | PSS MB |");
    console.log("|---|---|---|");
    for (const r of rows) console.log(`| ${r.command} | ${r.rssMb.toFixed(1)} | ${r.pssMb.toFixed(1)} |`);
    const rss = rows.reduce((n, r) => n + r.rssMb, 0);
    const pss = rows.reduce((n, r) => n + r.pssMb, 0);
    console.log(`| **total (${rows.length} processes)** | **${rss.toFixed(1)}** | **${pss.toFixed(1)}** |`);
    measured = true;
  } finally {
    // SIGTERM to the server; its job children are stopped through the registry's stop-all.
    await fetch(`${base}/unit_api/jobs/stop/all`, { method: "POST" }).catch(() => undefined);
    await new Promise((res) => setTimeout(res, 3000));
    server.kill("SIGTERM");
    await new Promise((res) => server.once("exit", res));
    await broker.close();
    fs.closeSync(log);
    if (process.env.KEEP_BENCH_DIR || !measured) console.log(`files kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
