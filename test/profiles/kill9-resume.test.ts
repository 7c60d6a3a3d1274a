
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureDevConfig } from "../../src/config/dev-config";
import { IniDocument } from "../../src/config/ini";
import { saveIniFile } from "../../src/config/ini-file";
import { openCacheDatabase } from "../../src/jobs/local-storage";
import { JobRegistry } from "../../src/jobs/registry";
import { defaultJournalPath, JournalStore } from "../../src/profiles/journal";
import { uniqueSuffix, withBrokers } from "../helpers/broker";
import { TopicRecorder } from "../helpers/job-harness";
import { startPio } from "../helpers/pio-child";
import { type RecordedRequest, RecordingClusterServer } from "./recording-cluster-server";

jest.setTimeout(90_000);

const PIO = path.join(__dirname, "..", "..", "dist", "src", "cli", "pio.js");
const skipReason = fs.existsSync(PIO) ? undefined : `${PIO} is missing: run \`npm run build\` first.`;
if (skipReason) process.stdout.write(`test/profiles/kill9-resume.test.ts skipped: ${skipReason}\n`);
const describeWithDist = skipReason ? describe.skip : describe;

const UNITS = ["unit1", "unit2"];
const STEPS = 24;
const STEP_S = 0.2;

/** Per unit: start at 0, then alternately a log and an update every 200 ms, then a stop. */
function profileText(): string {
  const lines = ['version: "1.0"', "experiment_profile_name: kill9", "pioreactors:"];
  for (const unit of UNITS) {
    lines.push(`  ${unit}:`, "    jobs:", "      stirring:", "        actions:");
    lines.push("          - {type: start, t: 0s, options: {target_rpm: 100}}");
    for (let k = 1; k <= STEPS; k++) {
      const t = `${(k * STEP_S).toFixed(1)}s`;
      if (k % 2 === 1) lines.push(`          - {type: log, t: ${t}, options: {message: "${unit} step ${k}"}}`);
      else lines.push(`          - {type: update, t: ${t}, options: {target_rpm: ${k}}}`);
    }
    lines.push(`          - {type: stop, t: ${((STEPS + 1) * STEP_S).toFixed(1)}s}`);
  }
  return `${lines.join("\n")}\n`;
}

function expectedActions(unit: string): string[] {
  const list = ["start"];
  for (let k = 1; k <= STEPS; k++) list.push(k % 2 === 1 ? `log ${unit} step ${k}` : `update ${k}`);
  list.push("stop");
  return list;
}

/** The action a request carries out, with its unit; undefined for look-ups (running checks, task polls, …). */
function actionOf(r: RecordedRequest): { unit: string; action: string } | undefined {
  if (r.method === "PATCH" && r.path === "/unit_api/jobs/run/job_name/stirring") return { unit: r.host, action: "start" };
  const log = r.method === "POST" ? /^\/api\/workers\/([^/]+)\/experiments\/[^/]+\/logs$/.exec(r.path) : null;
  if (log) return { unit: log[1], action: `log ${(r.body as { message: string }).message}` };
  const update = r.method === "PATCH" ? /^\/api\/workers\/([^/]+)\/jobs\/update\/job_name\/stirring\//.exec(r.path) : null;
  if (update) return { unit: update[1], action: `update ${(r.body as { settings: { target_rpm: number } }).settings.target_rpm}` };
  const stop = r.method === "PATCH" ? /^\/api\/workers\/([^/]+)\/jobs\/stop\/job_name\/stirring\//.exec(r.path) : null;
  if (stop) return { unit: stop[1], action: "stop" };
  return undefined;
}

function actionsReaching(server: RecordingClusterServer, unit: string): string[] {
  return server.requests.flatMap((r) => {
    const a = actionOf(r);
    return a && a.unit === unit ? [a.action] : [];
  });
}

async function until(what: string, cond: () => boolean, timeoutMs: number, context: () => string): Promise<void> {
  const started = Date.now();
  while (!cond()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const broker of withBrokers()) {
  describeWithDist(`kill -9 of a profile runner on the ${broker.name} broker`, () => {
    let dir: string;
    let server: RecordingClusterServer;
    const experiment = `kill9-${uniqueSuffix()}`;
    // unit2's update to 10 (due at 2.0 s) reaches the server and is never answered: it is in flight at the kill.
    const isHeld = (r: RecordedRequest) => actionOf(r)?.unit === "unit2" && actionOf(r)?.action === "update 10";

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-kill9-"));
      // Only the first runner's copy is held; the test fails if the resume sends it again.
      let held = 0;
      server = await RecordingClusterServer.start({ experiment, units: UNITS, hold: (r) => isHeld(r) && held++ === 0 });
      const file = ensureDevConfig({ dir, leaderHostname: "leader", brokerPort: Number(new URL(broker.url).port), webPort: server.port });
      const doc = IniDocument.parse(fs.readFileSync(file, "utf8"), { file });
      for (const host of ["leader", ...UNITS]) doc.set("cluster.addresses", host, server.addressOf(host));
      saveIniFile(file, doc);
      fs.writeFileSync(path.join(dir, "kill9.yaml"), profileText());
    });

    afterEach(async () => {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("resume refuses a run whose runner is still alive, and sends nothing", async () => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, DOT_PIOREACTOR: dir, GLOBAL_CONFIG: path.join(dir, "config.ini"), HOSTNAME: "leader" };
      // The runner of this run is "this test process": alive.
      const db = openCacheDatabase(path.join(dir, "storage", "local_intermittent_pioreactor_metadata.sqlite"));
      const jobId = new JobRegistry(db).register({ unit: "leader", experiment, jobName: "experiment_profile", jobSource: "user", pid: process.pid, leader: "leader", isLongRunning: true });
      db.close();
      const store = new JournalStore(defaultJournalPath(dir));
      store.createRun({ profileText: profileText(), profileFilename: "kill9.yaml", experiment, startMs: Date.now(), dryRun: false, jobKey: `experiment_profile/${jobId}` });
      store.close();
      const resume = startPio(["profile", "resume"], env);
      expect(await resume.exited).toBe(1);
      expect(resume.output()).toContain(`Error: Profile run 1 is still running in process ${process.pid}; stop it first (pio kill --job-id ${jobId}).`);
      expect(server.requests).toEqual([]);
      const after = new JournalStore(defaultJournalPath(dir));
      expect(after.run(1)?.status).toBe("running");
      after.close();
    });

    test("the resumed run sends every remaining action once, in order, and repeats nothing", async () => {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, DOT_PIOREACTOR: dir, GLOBAL_CONFIG: path.join(dir, "config.ini"), HOSTNAME: "leader" };
      const prefix = `pioreactor/leader/${experiment}/experiment_profile/`;
      const recorder = await TopicRecorder.start(broker.url, `${prefix}#`);
      try {
        const first = startPio(["run", "profile", path.join(dir, "kill9.yaml"), "--experiment", experiment], env);
        const context = () => `runner output:\n${first.output()}\nrequests:\n${server.requests.map((r) => `${r.host} ${r.method} ${r.path}`).join("\n")}`;
        // Kill once the held request is in flight and unit1 has gone on past it (a slow unit delays only itself).
        await until("the held request and unit1 past it", () => server.requests.some(isHeld) && actionsReaching(server, "unit1").length >= 14, 30_000, context);
        first.child.kill("SIGKILL");
        expect(await first.exited).toBeNull();
        const sentBeforeKill = { unit1: actionsReaching(server, "unit1").length, unit2: actionsReaching(server, "unit2").length };
        expect(sentBeforeKill.unit2).toBe(11); // start, steps 1–10; nothing after the held step 10 left unit2's queue
        const lost = await recorder.waitFor((m) => m.topic.endsWith("/$state") && m.payload === "lost");
        const jobKeyPrefix = lost.topic.slice(0, -"$state".length);

        const resumed = startPio(["profile", "resume"], env);
        const code = await resumed.exited;
        const log = resumed.output();
        expect({ code, log }).toMatchObject({ code: 0 });

        for (const unit of UNITS) expect(actionsReaching(server, unit)).toEqual(expectedActions(unit));
        const jobKey = jobKeyPrefix.slice(`pioreactor/leader/${experiment}/`.length, -1);
        const line = (level: string, text: string) => `${level.padEnd(6)} [${jobKey}] ${text}`;
        expect(log).toMatch(
          new RegExp(`NOTICE +\\[${jobKey}\\] Resuming profile kill9 \\(run 1\\) after a gap of [0-9.]+ min: \\d+ task\\(s\\) pending, \\d+ missed, policy catch-up\\.`),
        );
        expect(log).toContain(
          line("WARNING", "Not repeating `update` of stirring on unit2 [unit2/stirring/10@unit2]: it was being sent when the run stopped, and may have reached unit2."),
        );
        expect(log).toContain(line("INFO", "Catching up `log` of stirring on unit2 [unit2/stirring/11@unit2]"));
        expect(log).toContain(line("INFO", "Finished executing profile kill9."));

        // The resumed run speaks under the run's job key, so the UI sees one job that came back.
        const afterLost = recorder.messages.slice(recorder.messages.indexOf(lost) + 1);
        const underKey = afterLost.filter((m) => m.topic.startsWith(jobKeyPrefix)).map((m) => `${m.topic.slice(jobKeyPrefix.length)} ${m.payload}`.trimEnd());
        expect(afterLost.filter((m) => !m.topic.startsWith(jobKeyPrefix))).toEqual([]);
        expect(underKey.slice(0, 5)).toEqual(["$state init", "$state ready", "experiment_profile_name kill9", expect.stringMatching(/^start_time_utc \d{4}-/), "profile_filename kill9.yaml"]);
        expect(underKey.slice(-3)).toEqual(["experiment_profile_name", "start_time_utc", "$state disconnected"]);
        const counts = underKey.filter((l) => l.startsWith("action_count ")).map((l) => Number(l.split(" ")[1]));
        expect(counts.length).toBeGreaterThan(0);
        expect(counts).toEqual([...counts].sort((a, b) => a - b));
      } finally {
        await recorder.end();
      }
    });
  });
}
