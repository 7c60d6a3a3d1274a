/**
 * `pio run stirring` as a real process (the compiled CLI in dist/), as a user runs it: `pio kill`
 * (capture 06), `kill -9` and the last will (capture 09), an immediate restart after `kill -9`
 * (blocked forever in the original), and the exit codes of bad input.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureDevConfig } from "../../src/config/dev-config";
import { uniqueSuffix, withBrokers } from "../helpers/broker";
import { TopicRecorder } from "../helpers/job-harness";
import { startPio } from "../helpers/pio-child";

jest.setTimeout(60_000);

const PIO = path.join(__dirname, "..", "..", "dist", "src", "cli", "pio.js");

beforeAll(() => {
  if (!fs.existsSync(PIO)) throw new Error(`${PIO} is missing: run \`npm run build\` first (npm ci does it).`);
});

function pioEnv(dir: string, unit: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    TESTING: "1",
    DOT_PIOREACTOR: dir,
    GLOBAL_CONFIG: path.join(dir, "config.ini"),
    HOSTNAME: unit,
    EXPERIMENT: "exp1",
  };
}

function runPio(args: string[], env: NodeJS.ProcessEnv): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [PIO, ...args], { env, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const broker of withBrokers()) {
  describe(`pio processes on the ${broker.name} broker`, () => {
    let dir: string;
    let unit: string;
    let env: NodeJS.ProcessEnv;
    let recorder: TopicRecorder;
    const stateTopic = () => `pioreactor/${unit}/exp1/stirring/$state`;

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-cli-"));
      unit = `unit${uniqueSuffix()}`;
      ensureDevConfig({ dir, brokerPort: Number(new URL(broker.url).port) });
      env = pioEnv(dir, unit);
      recorder = await TopicRecorder.start(broker.url, `pioreactor/${unit}/#`);
    });

    afterEach(async () => {
      await recorder.end();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test("pio kill --job-name stirring stops a running job gracefully (06)", async () => {
      const job = startPio(["run", "stirring"], env);
      try {
        await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "ready", 20_000);
        const killed = runPio(["kill", "--job-name", "stirring"], env);
        expect(killed.stdout.trim()).toBe("Killed 1 job.");
        expect(killed.code).toBe(0);
        expect(await job.exited).toBe(0);
        await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "disconnected");
        await recorder.waitFor((m) => m.topic.endsWith("/stirring/target_rpm") && m.payload === "");
        expect(job.output()).toContain("Exiting caused by signal Interrupt.");
        expect(runPio(["jobs", "list", "running"], env).stdout.trim()).toBe("No jobs recorded.");
      } finally {
        job.child.kill("SIGKILL");
      }
    });

    test("SIGINT during start-up stops the job gracefully (exit 0, disconnected), never by the default action", async () => {
      const job = startPio(["run", "stirring"], env);
      await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "init", 20_000);
      job.child.kill("SIGINT");
      expect(await job.exited).toBe(0);
      await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "disconnected");
      expect(runPio(["jobs", "list", "running"], env).stdout.trim()).toBe("No jobs recorded.");
    });

    test("kill -9 publishes the last will `lost`, and an immediate restart succeeds (09)", async () => {
      const first = startPio(["run", "stirring"], env);
      await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "ready", 20_000);
      first.child.kill("SIGKILL");
      await first.exited;
      const lost = await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "lost", 20_000);
      expect(lost.payload).toBe("lost");
      // The will is retained: a late subscriber sees `lost`.
      const late = await TopicRecorder.start(broker.url, stateTopic());
      await late.waitFor((m) => m.retain && m.payload === "lost");
      await late.end();

      recorder.clear();
      const second = startPio(["run", "stirring"], env);
      try {
        await recorder.waitFor((m) => m.topic === stateTopic() && m.payload === "ready", 20_000);
        expect(second.output()).not.toContain("already running");
      } finally {
        second.child.kill("SIGINT");
        await second.exited;
      }
    });

    test("exit codes: unknown job 2 with the known jobs, kill without a filter 1, bad option value 2", () => {
      const unknown = runPio(["run", "stirrrring"], env);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("No such job 'stirrrring'. Known jobs:");
      expect(unknown.stderr).toContain("stirring");

      const kill = runPio(["kill"], env);
      expect(kill.code).toBe(1);
      expect(kill.stderr).toContain("Aborted!");

      const bad = runPio(["run", "stirring", "--duty-cycle", "150"], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("150 is not in the range 0<=x<=100");

      expect(runPio(["version"], env).stdout.trim()).toBe("26.7.2");
      expect(runPio(["bogus-command"], env).code).toBe(2);
    });
  });
}

describe("pio with a broken configuration", () => {
  test("a malformed config.ini names the file and line, exit 1, no stack trace", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-cli-"));
    try {
      fs.writeFileSync(path.join(dir, "config.ini"), "# a comment\n\norphan_key=1\n[ok]\n");
      const r = runPio(["run", "stirring"], pioEnv(dir, "unitx"));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/config\.ini:3/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
