/**
 * `pio serve --simulate` as a user runs it (the compiled CLI in dist/): it uses the broker config.ini
 * names when one answers, and SIGTERM stops every simulated job cleanly (retained `$state`
 * `disconnected`, read back after the process is gone) and exits 0.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { type EmbeddedBroker, startEmbeddedBroker } from "../../src/pubsub/broker";
import { connectMqtt } from "../../src/pubsub/client";

jest.setTimeout(60_000);

const PIO = path.join(__dirname, "..", "..", "dist", "src", "cli", "pio.js");

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

/** The retained payload of `topic`, or undefined when none arrives within a second. */
async function retained(url: string, topic: string): Promise<string | undefined> {
  const client = await connectMqtt({ url, clientIdBase: "retained-check" });
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

describe("pio serve --simulate as a process", () => {
  let broker: EmbeddedBroker;
  let dir: string;
  beforeAll(async () => {
    if (!fs.existsSync(PIO)) throw new Error(`${PIO} is missing: run \`npm run build\` first (npm ci does it).`);
    broker = await startEmbeddedBroker({ port: 0 });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-serve-sim-proc-"));
  });
  afterAll(async () => {
    await broker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("uses the configured broker; SIGTERM leaves every job disconnected and exits 0", async () => {
    const webPort = await freePort();
    fs.writeFileSync(
      path.join(dir, "config.ini"),
      `[cluster.topology]\nleader_hostname=leader\nleader_address=127.0.0.1\n\n[mqtt]\nbroker_address=127.0.0.1\nbroker_port=${broker.port}\n\n` +
        `[ui]\nport=${webPort}\n\n[storage]\ndatabase=${path.join(dir, "db.sqlite")}\ntemporary_cache=${path.join(dir, "cache.sqlite")}\npersistent_cache=${path.join(dir, "persistent.sqlite")}\n`,
    );
    const child = spawn(process.execPath, [PIO, "serve", "--simulate", "--units", "tank1", "--speed", "10", "--host", "127.0.0.1"], {
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
      expect(stdout).toContain(`Using the MQTT broker at mqtt://127.0.0.1:${broker.port}.`);
      expect(stdout).toContain("Simulating tank1 in experiment simulation at 10× real time.");

      const base = `http://127.0.0.1:${webPort}`;
      const run = await fetch(`${base}/api/workers/tank1/jobs/run/job_name/stirring/experiments/simulation`, { method: "POST", body: "{}" });
      expect(run.status).toBe(202);
      let state: string | undefined;
      for (let i = 0; i < 100 && state !== "ready"; i++) {
        state = await retained(broker.url, "pioreactor/tank1/simulation/stirring/$state");
        if (state !== "ready") await new Promise((r) => setTimeout(r, 100));
      }
      expect(state).toBe("ready");
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toBe("");
    expect(await retained(broker.url, "pioreactor/tank1/simulation/stirring/$state")).toBe("disconnected");
    expect(await retained(broker.url, "pioreactor/tank1/$experiment/monitor/$state")).toBe("disconnected");
    expect(await retained(broker.url, "pioreactor/leader/$experiment/mqtt_to_db_streaming/$state")).toBe("disconnected");
  });
});
