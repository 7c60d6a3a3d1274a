/**
 * `pio serve` with `[pio_serve] host_jobs = true`, as a real process (the compiled CLI in dist/):
 * jobs started through `/unit_api` run inside the daemon, reach `ready` on the broker with their
 * registry rows, obey `/set`; `pio kill --job-name` stops only that job and not the daemon; a
 * plugin job that throws from a raw timer is stopped alone; stopping the daemon disconnects all.
 */
import { type ChildProcess, execFile, } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { ensureDevConfig } from "../../../src/config/dev-config";
import { connectTestClient, uniqueSuffix, withBrokers } from "../../helpers/broker";
import { TopicRecorder } from "../../helpers/job-harness";
import { startPio } from "../../helpers/pio-child";

jest.setTimeout(90_000);

const PIO = path.join(__dirname, "..", "..", "..", "dist", "src", "cli", "pio.js");

beforeAll(() => {
  if (!fs.existsSync(PIO)) throw new Error(`${PIO} is missing: run \`npx tsc -p tsconfig.build.json\` first.`);
});

/**
 * A plugin job that throws from a plain timer (or, with `--mode rejection`, leaves a promise
 * rejected), outside every handler the job runtime guards.
 */
const FAULTY_PLUGIN = `
exports.pluginName = "faulty";
exports.version = "0.0.1";
exports.summary = "throws from a timer";
exports.author = "test";
exports.homepage = "";
exports.register = (api) => {
  class Faulty extends api.lib.BackgroundJob {
    constructor(deps, source, mode) {
      super(deps, { jobName: "faulty_job", source, settings: { level: { datatype: "float", settable: false } } });
      this.mode = mode;
    }
    async setup() {
      this.setSetting("level", 1.0);
      if (this.mode === "rejection") setTimeout(() => { Promise.reject(new Error("boom from a promise")); }, 1500);
      else setTimeout(() => { throw new Error("boom from a timer"); }, 1500);
    }
  }
  api.registerJob({
    name: "faulty_job",
    summary: "throws",
    options: [{ flags: "--mode <mode>", description: "timer or rejection" }],
    create: (deps, input) => new Faulty(deps, input.source, input.options.mode),
  });
};
`;

interface Daemon {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startDaemon(env: NodeJS.ProcessEnv): Promise<Daemon> {
  const { child, output, exited } = startPio(["serve", "--port", "0", "--host", "127.0.0.1"], env);
  for (let i = 0; i < 300; i++) {
    const port = /on port (\d+)/.exec(output())?.[1];
    if (port) return { child, base: `http://127.0.0.1:${port}`, output, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`pio serve did not start:\n${output()}`);
}

/** Asynchronously: the embedded broker lives in this (jest) process and must keep answering. */
function runPio(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [PIO, ...args], { env, encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") reject(err);
      else resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

type TaskOutcome = { status: string; result?: unknown; error?: string };

/** POSTs a run request as the leader's fan-out does, and polls its task to the end. */
async function runJob(base: string, job: string, body: Record<string, unknown>): Promise<TaskOutcome> {
  const accepted = await fetch(`${base}/unit_api/jobs/run/job_name/${job}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  expect(accepted.status).toBe(202);
  const { result_url_path } = (await accepted.json()) as { result_url_path: string };
  for (let i = 0; i < 200; i++) {
    const outcome = (await (await fetch(`${base}${result_url_path}`)).json()) as TaskOutcome;
    if (outcome.status !== "pending" && outcome.status !== "running") return outcome;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`task for ${job} never ended`);
}

function runningRows(cacheFile: string): Array<{ job_name: string; pid: number }> {
  const db = new Database(cacheFile, { readonly: true });
  try {
    return db.prepare("SELECT job_name, pid FROM pio_job_metadata WHERE is_running = 1 ORDER BY job_name").all() as Array<{ job_name: string; pid: number }>;
  } finally {
    db.close();
  }
}

for (const broker of withBrokers()) {
  describe(`pio serve hosting jobs on the ${broker.name} broker`, () => {
    let dir: string;
    let unit: string;
    let env: NodeJS.ProcessEnv;
    let recorder: TopicRecorder;
    let daemon: Daemon | undefined;
    const state = (job: string) => `pioreactor/${unit}/exp1/${job}/$state`;
    const cacheFile = () => path.join(dir, "storage", "local_intermittent_pioreactor_metadata.sqlite");

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-hosted-"));
      unit = `unit${uniqueSuffix()}`;
      const config = ensureDevConfig({ dir, brokerPort: Number(new URL(broker.url).port), leaderHostname: "leader" });
      fs.appendFileSync(config, "\n[pio_serve]\nhost_jobs=true\n");
      fs.mkdirSync(path.join(dir, "plugins"));
      fs.writeFileSync(path.join(dir, "plugins", "faulty.js"), FAULTY_PLUGIN);
      // Not TESTING: plugins are then read from $DOT_PIOREACTOR/plugins, as on a unit; ACTIVE=1
      // and the request's EXPERIMENT stand in for the leader's answers.
      env = { PATH: process.env.PATH, DOT_PIOREACTOR: dir, GLOBAL_CONFIG: config, HOSTNAME: unit, ACTIVE: "1", PIO_EXECUTABLE: "/bin/false", PIOREACTOR_HARDWARE: "sim" };
      recorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
      daemon = await startDaemon(env);
    });

    afterEach(async () => {
      daemon?.child.kill("SIGKILL");
      await daemon?.exited;
      await recorder.end();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("UI-started jobs run in the daemon; /set works; pio kill stops one; shutdown disconnects the rest", async () => {
      const d = daemon!;
      expect(d.output()).toContain("Hosting jobs in this process ([pio_serve] host_jobs).");
      expect(await runJob(d.base, "stirring", { options: { target_rpm: 400 }, env: { EXPERIMENT: "exp1", JOB_SOURCE: "user" } })).toMatchObject({ status: "succeeded" });
      expect(await runJob(d.base, "od_reading", { env: { EXPERIMENT: "exp1" } })).toMatchObject({ status: "succeeded" });
      await recorder.waitFor((m) => m.topic === state("stirring") && m.payload === "ready", 20_000);
      await recorder.waitFor((m) => m.topic === state("od_reading") && m.payload === "ready", 20_000);
      await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/stirring/target_rpm` && m.payload === "400.0");
      expect(runningRows(cacheFile())).toEqual([
        { job_name: "od_reading", pid: d.child.pid },
        { job_name: "stirring", pid: d.child.pid },
      ]);

      // The same error text a `pio run` child prints, as the task's failure (after the route's 1 s debounce).
      await new Promise((r) => setTimeout(r, 1100));
      const bad = await runJob(d.base, "stirring", { options: { target_rpm: "fast" }, env: { EXPERIMENT: "exp1" } });
      expect(bad.status).toBe("failed");
      expect(bad.error).toContain("Exit code 2. Invalid value for '--target-rpm': 'fast' is not a valid float.");
      await new Promise((r) => setTimeout(r, 1100));
      const again = await runJob(d.base, "stirring", { env: { EXPERIMENT: "exp1" } });
      expect(again).toMatchObject({ status: "failed" });
      expect(again.error).toMatch(/stirring is already running \(job_id=\d+\)\. Skipping\./);

      const client = await connectTestClient(broker.url);
      await client.publish(`pioreactor/${unit}/exp1/stirring/target_rpm/set`, "250", { qos: 1 });
      await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/stirring/target_rpm` && m.payload === "250.0");
      await client.end();

      const killed = await runPio(["kill", "--job-name", "stirring"], env);
      expect({ out: killed.stdout.trim(), err: killed.stderr }).toEqual({ out: "Killed 1 job.", err: "" });
      expect(killed.code).toBe(0);
      await recorder.waitFor((m) => m.topic === state("stirring") && m.payload === "disconnected", 20_000);
      await recorder.waitFor((m) => m.topic.endsWith("/stirring/target_rpm") && m.payload === "");
      expect(d.child.exitCode).toBeNull();
      expect(runningRows(cacheFile()).map((r) => r.job_name)).toEqual(["od_reading"]);
      expect(recorder.messages.some((m) => m.topic === state("od_reading") && m.payload === "disconnected")).toBe(false);

      recorder.clear();
      d.child.kill("SIGTERM");
      expect(await d.exited).toBe(0);
      const gone = await recorder.waitFor((m) => m.topic === state("od_reading") && m.payload === "disconnected", 20_000);
      expect(gone.retain).toBe(false);
      const late = await TopicRecorder.start(broker.url, state("od_reading"));
      await late.waitFor((m) => m.retain && m.payload === "disconnected");
      await late.end();
      expect(runningRows(cacheFile())).toEqual([]);
      daemon = undefined;
    });

    for (const [mode, message] of [
      ["timer", "boom from a timer"],
      ["rejection", "boom from a promise"],
    ] as const) {
      test(`a hosted job that fails outside its handlers (${mode}) is stopped alone, with an ERROR log; the daemon and other jobs live`, async () => {
        const d = daemon!;
        expect(await runJob(d.base, "stirring", { env: { EXPERIMENT: "exp1" } })).toMatchObject({ status: "succeeded" });
        expect(await runJob(d.base, "faulty_job", { options: { mode }, env: { EXPERIMENT: "exp1" } })).toMatchObject({ status: "succeeded" });
        await recorder.waitFor((m) => m.topic === state("faulty_job") && m.payload === "ready", 20_000);
        const error = await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/logs/faulty/error`, 20_000);
        expect(JSON.parse(error.payload).message).toBe(`faulty_job failed with an uncaught error: ${message}. Stopping it; the other jobs keep running.`);
        await recorder.waitFor((m) => m.topic === state("faulty_job") && m.payload === "disconnected", 20_000);
        await recorder.waitFor((m) => m.topic === `pioreactor/${unit}/exp1/faulty_job/level` && m.payload === "");
        expect(d.child.exitCode).toBeNull();
        expect(runningRows(cacheFile()).map((r) => r.job_name)).toEqual(["stirring"]);
        expect(recorder.messages.some((m) => m.topic === state("stirring") && m.payload !== "ready" && m.payload !== "init")).toBe(false);
        expect((await fetch(`${d.base}/unit_api/health`)).status).toBe(200);
        // Job logs go to the unit's log file (and MQTT), not to the daemon's stdout, as a child's.
        expect(fs.readFileSync(path.join(dir, "pioreactor.log"), "utf8")).toContain(`faulty_job failed with an uncaught error: ${message}.`);
        expect(d.output()).not.toContain("faulty_job failed");
      });
    }

    test("the unit API's stop route stops a hosted job and a hosted action (pump) by name, the daemon lives", async () => {
      const d = daemon!;
      expect(await runJob(d.base, "stirring", { env: { EXPERIMENT: "exp1" } })).toMatchObject({ status: "succeeded" });
      expect(await runJob(d.base, "add_media", { options: { duration: 120 }, env: { EXPERIMENT: "exp1" } })).toMatchObject({ status: "succeeded" });
      await recorder.waitFor((m) => m.topic === state("add_media") && m.payload === "ready", 20_000);
      await recorder.waitFor((m) => m.topic === state("stirring") && m.payload === "ready", 20_000);
      const stop = async (body: Record<string, unknown>) => {
        const r = await fetch(`${d.base}/unit_api/jobs/stop`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        expect(r.status).toBe(202);
      };
      await stop({ job_name: "add_media" });
      await recorder.waitFor((m) => m.topic === state("add_media") && m.payload === "disconnected", 20_000);
      expect(recorder.messages.some((m) => m.topic === state("stirring") && m.payload === "disconnected")).toBe(false);
      await stop({ job_name: "stirring" });
      await recorder.waitFor((m) => m.topic === state("stirring") && m.payload === "disconnected", 20_000);
      for (let i = 0; i < 50 && runningRows(cacheFile()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(runningRows(cacheFile())).toEqual([]);
      expect(d.child.exitCode).toBeNull();
    });

    test("the daemon killed with -9: each hosted job's own last will marks it lost", async () => {
      const d = daemon!;
      expect(await runJob(d.base, "stirring", { env: { EXPERIMENT: "exp1" } })).toMatchObject({ status: "succeeded" });
      await recorder.waitFor((m) => m.topic === state("stirring") && m.payload === "ready", 20_000);
      d.child.kill("SIGKILL");
      await d.exited;
      await recorder.waitFor((m) => m.topic === state("stirring") && m.payload === "lost", 20_000);
      daemon = undefined;
    });
  });
}
