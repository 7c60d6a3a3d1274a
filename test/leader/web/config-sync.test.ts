/** `PATCH /api/config/shared` copies config.ini to every worker through its `/unit_api/config/shared`. */
import fs from "node:fs";
import path from "node:path";
import { BASE_CONFIG, type Harness, startHarness } from "./harness";

describe("config sync to workers", () => {
  let leader: Harness;
  let worker: Harness;
  beforeAll(async () => {
    worker = await startHarness({ unitName: "unit1", isLeader: false });
    leader = await startHarness({ unitBaseUrl: (u) => (u === "unit1" ? worker.url : "http://127.0.0.1:9") });
    await leader.request("PUT", "/api/workers", { pioreactor_unit: "unit1" });
  });
  afterAll(async () => {
    await leader.close();
    await worker.close();
  });

  const withExtra = (line: string) => `${BASE_CONFIG.replace("DB_PATH", "/tmp/x.sqlite")}\n[stirring.config]\n${line}\n`;

  test("the new text reaches the worker's config.ini", async () => {
    const code = withExtra("pwm_hz=150");
    const r = await leader.request("PATCH", "/api/config/shared", { code });
    expect(r.status).toBe(200);
    expect(fs.readFileSync(path.join(worker.dot, "config.ini"), "utf8")).toBe(code);
    expect(worker.context.config().get("stirring.config", "pwm_hz")).toBe("150");
  });

  test("a worker takes only valid text, and the leader's own copy only through /api", async () => {
    const before = fs.readFileSync(path.join(worker.dot, "config.ini"), "utf8");
    for (const code of ["[mqtt]\nbroker_address=x\n", "not ini at all", 42]) {
      const r = await worker.request("PATCH", "/unit_api/config/shared", { code });
      expect(r.status).toBe(400);
    }
    expect(fs.readFileSync(path.join(worker.dot, "config.ini"), "utf8")).toBe(before);
    const onLeader = await leader.request("PATCH", "/unit_api/config/shared", { code: withExtra("pwm_hz=1") });
    expect(onLeader.status).toBe(403);
  });

  test("an unreachable worker fails the sync with the original's 500", async () => {
    await leader.request("PUT", "/api/workers", { pioreactor_unit: "unit2" });
    const r = await leader.request("PATCH", "/api/config/shared", { code: withExtra("pwm_hz=175") });
    expect(r.status).toBe(500);
    expect(r.json.error).toBe("Could not sync configs to all Pioreactors.");
    expect(r.json.cause).toContain("unit2");
    // The reachable worker still got it.
    expect(fs.readFileSync(path.join(worker.dot, "config.ini"), "utf8")).toContain("pwm_hz=175");
  }, 20000);
});
