/**
 * `pio serve --simulate` as a user runs it (the compiled CLI in dist/): it uses the broker config.ini
 * names when one answers, and SIGTERM stops every simulated job cleanly (retained `$state`
 * `disconnected`, read back after the process is gone) and exits 0.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connectTestClient, uniqueSuffix, withBrokers } from "../helpers/broker";
import { freePort } from "../helpers/ports";

jest.setTimeout(60_000);

const PIO = path.join(__dirname, "..", "..", "dist", "src", "cli", "pio.js");


/** The retained payload of `topic`, or undefined when none arrives within a second. */
async function retained(url: string, topic: string): Promise<string | undefined> {
  const client = await connectTestClient(url, { clientIdBase: "retained-check" });
  try {
    return await new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 1000);
      void client.subscribe(topic, (m) => {
        clearTimeout(timer);
        resolve(m.payload.toString());
      });
    });
  } finally {
    await client.end();
  }
}

for (const broker of withBrokers()) {
describe(`pio serve --simulate as a process, on the ${broker.name} broker`, () => {
  let dir: string;
  beforeAll(() => {
    if (!fs.existsSync(PIO)) throw new Error(`${PIO} is missing: run \`npm run build\` first (npm ci does it).`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-sim-proc-"));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("uses the configured broker; SIGTERM leaves every job disconnected and exits 0", async () => {
    const webPort = await freePort();
    const url = new URL(broker.url);
    // A shared broker (Mosquitto in CI) sees other runs: names of our own.
    const suffix = uniqueSuffix();
    const leader = `leader-${suffix}`;
    const unit = `tank-${suffix}`;
    fs.writeFileSync(
      path.join(dir, "config.ini"),
      `[cluster.topology]\nleader_hostname=${leader}\nleader_address=127.0.0.1\n\n[mqtt]\nbroker_address=${url.hostname}\nbroker_port=${url.port}\n\n` +
        `[ui]\nport=${webPort}\n\n[storage]\ndatabase=${path.join(dir, "db.sqlite")}\ntemporary_cache=${path.join(dir, "cache.sqlite")}\npersistent_cache=${path.join(dir, "persistent.sqlite")}\n`,
    );
    const child = spawn(process.execPath, [PIO, "serve", "--simulate", "--units", unit, "--speed", "10", "--host", "127.0.0.1"], {
      env: { PATH: process.env.PATH, DOT_PIOREACTOR: dir },
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      for (let i = 0; i < 300 && !stdout.includes("Serving /api"); i++) await new Promise((r) => setTimeout(r, 50));
      expect(stdout).toContain(`Using the MQTT broker at mqtt://${url.hostname}:${url.port}.`);
      expect(stdout).toContain(`Simulating ${unit} in experiment simulation at 10× real time.`);

      const base = `http://127.0.0.1:${webPort}`;
      const run = await fetch(`${base}/api/workers/${unit}/jobs/run/job_name/stirring/experiments/simulation`, { method: "POST", body: "{}" });
      expect(run.status).toBe(202);
      let state: string | undefined;
      for (let i = 0; i < 100 && state !== "ready"; i++) {
        state = await retained(broker.url, `pioreactor/${unit}/simulation/stirring/$state`);
        if (state !== "ready") await new Promise((r) => setTimeout(r, 100));
      }
      expect(state).toBe("ready");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe("");
    expect(await retained(broker.url, `pioreactor/${unit}/simulation/stirring/$state`)).toBe("disconnected");
    expect(await retained(broker.url, `pioreactor/${unit}/$experiment/monitor/$state`)).toBe("disconnected");
    expect(await retained(broker.url, `pioreactor/${leader}/$experiment/mqtt_to_db_streaming/$state`)).toBe("disconnected");
  });
});
}
