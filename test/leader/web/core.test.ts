/** Envelope, auth, body limits, health, tasks, leader-only /api. */
import { type Harness, startHarness, BASE_CONFIG } from "./harness";

describe("web core", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  test("health answers with the unit and a millisecond UTC time", async () => {
    const r = await h.request("GET", "/unit_api/health");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "ok", pioreactor_unit: "leader", utc_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(r.headers.get("cache-control")).toBe("public, max-age=0");
  });

  test("unknown routes get the error envelope with exactly the original's keys", async () => {
    const r = await h.request("GET", "/api/nope");
    expect(r.status).toBe(404);
    expect(Object.keys(r.json)).toEqual(["error", "status", "cause"]);
    expect(r.json.status).toBe(404);
    expect(r.json.cause).toBe(r.json.error);
  });

  test("malformed JSON gives 400 Invalid request body. with a remediation naming required fields", async () => {
    const r = await h.request("POST", "/api/experiments", "{not json", { "Content-Type": "text/plain" });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      error: "Invalid request body.",
      status: 400,
      cause: expect.stringContaining("JSON is malformed"),
      remediation: "Send a JSON object with the required fields: experiment.",
    });
  });

  test("JSON is read whatever the Content-Type", async () => {
    const r = await h.request("POST", "/api/experiments", JSON.stringify({ experiment: "ct-less" }), { "Content-Type": "text/plain" });
    expect(r.status).toBe(201);
  });

  test("oversized bodies are refused with 413 and change nothing", async () => {
    const before = await h.db("experiments").count({ n: "*" }).first();
    const big = JSON.stringify({ experiment: "big", description: "x".repeat(2 * 1024 * 1024) });
    const r = await h.request("POST", "/api/experiments", big);
    expect(r.status).toBe(413);
    expect(r.json.status).toBe(413);
    expect(await h.db("experiments").count({ n: "*" }).first()).toEqual(before);
  });

  test("task results: unknown ids are pending (202)", async () => {
    const r = await h.request("GET", "/unit_api/task_results/abc");
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ task_id: "abc", result_url_path: "/unit_api/task_results/abc", status: "pending" });
  });
});

describe("API key", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, `${BASE_CONFIG}\n[ui_basic_auth]\napi_key=s3cret\n`);
  });
  afterAll(() => h.close());

  test("missing or wrong key gives 401 and the shared config (MQTT password) is not served", async () => {
    const none = await h.request("GET", "/api/config/shared");
    expect(none.status).toBe(401);
    expect(none.text).not.toContain("raspberry");
    expect(none.headers.get("www-authenticate")).toContain("Basic");
    const wrong = await h.request("GET", "/api/config/shared", undefined, { Authorization: "Basic nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toMatchObject({ error: "Unauthorized.", status: 401 });
  });

  test("the Python clients' header and a browser's Basic credentials both work", async () => {
    const python = await h.request("GET", "/api/config/shared", undefined, { Authorization: "Basic s3cret" });
    expect(python.status).toBe(200);
    const browser = await h.request("GET", "/unit_api/health", undefined, { Authorization: `Basic ${Buffer.from("me:s3cret").toString("base64")}` });
    expect(browser.status).toBe(200);
  });
});

describe("non-leader", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ isLeader: false, unitName: "unit1" });
  });
  afterAll(() => h.close());

  test("/api answers 404 with the original's message; /unit_api works", async () => {
    const r = await h.request("GET", "/api/experiments");
    expect(r.status).toBe(404);
    expect(r.json.error).toBe("Can't access /api/ endpoints when this unit isn't the leader. Did you mean /unit_api/?");
    expect((await h.request("GET", "/unit_api/health")).json.pioreactor_unit).toBe("unit1");
  });
});
