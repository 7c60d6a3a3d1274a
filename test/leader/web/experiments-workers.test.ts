/** Experiments, inventory and assignments, including the retained assignment message (capture 00). */
import { type Harness, retainedMessage, startHarness, taskResult } from "./harness";

describe("experiments and assignments", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());

  test("create returns 201 Experiment; tags normalised; duplicate gives 409", async () => {
    const r = await h.request("POST", "/api/experiments", { experiment: "exp1", description: "first", tags: [" a ", "A", "", "b"] });
    expect(r.status).toBe(201);
    expect(Object.keys(r.json)).toEqual(["experiment", "created_at", "description", "delta_hours", "worker_count", "tags"]);
    expect(r.json).toMatchObject({ experiment: "exp1", description: "first", delta_hours: 0, worker_count: 0, tags: ["a", "b"] });
    const dup = await h.request("POST", "/api/experiments", { experiment: "exp1" });
    expect(dup.status).toBe(409);
    expect(dup.json).toMatchObject({ error: "Experiment already exists", status: 409 });
    const log = await h.waitForMessages(/^pioreactor\/leader\/\$experiment\/logs\/ui\/info$/);
    expect(JSON.parse(log[0].payload.toString())).toMatchObject({ source: "ui", message: "New experiment created: exp1", level: "INFO" });
  });

  test.each([
    ["", "Experiment name is required"],
    ["current", "Experiment name cannot be 'current'"],
    ["_testing_x", "Experiment name cannot start with '_testing'"],
    ["a/b", "Experiment name cannot contain special characters (#, $, %, +, /, \\)"],
    ["x".repeat(200), "Experiment name is too long"],
  ])("name %j is refused", async (name, message) => {
    const r = await h.request("POST", "/api/experiments", { experiment: name });
    expect(r.status).toBe(400);
    expect(r.json.error).toBe(message);
    expect(await h.db("experiments").where("experiment", name).first()).toBeUndefined();
  });

  test("unknown fields are refused (msgspec forbid_unknown_fields)", async () => {
    const r = await h.request("POST", "/api/experiments", { experiment: "e-unknown", colour: "red" });
    expect(r.status).toBe(400);
    expect(r.json.cause).toBe("Object contains unknown field `colour`");
  });

  test("list, get, latest (last inserted), patch", async () => {
    await h.request("POST", "/api/experiments", { experiment: "exp2" });
    const list = await h.request("GET", "/api/experiments");
    expect(list.json.map((e: { experiment: string }) => e.experiment)).toEqual(expect.arrayContaining(["exp1", "exp2"]));
    expect((await h.request("GET", "/api/experiments/latest")).json.experiment).toBe("exp2");
    expect((await h.request("GET", "/api/experiments/nope")).status).toBe(404);
    const patched = await h.request("PATCH", "/api/experiments/exp1", { tags: ["z"] });
    expect(patched.status).toBe(200);
    expect(patched.json.tags).toEqual(["z"]);
    expect((await h.request("PATCH", "/api/experiments/exp1", {})).status).toBe(400);
    expect((await h.request("PATCH", "/api/experiments/nope", { description: "x" })).status).toBe(404);
  });

  test("workers: add, list, validation", async () => {
    expect((await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1", model_name: "pioreactor_40ml", model_version: "1.5" })).status).toBe(201);
    expect((await h.request("PUT", "/api/workers", { pioreactor_unit: "leader" })).status).toBe(201);
    for (const bad of ["$broadcast", "localhost", "10.0.0.1", "a b"]) {
      expect((await h.request("PUT", "/api/workers", { pioreactor_unit: bad })).status).toBe(400);
    }
    const workers = await h.request("GET", "/api/workers");
    expect(workers.json[1]).toEqual({
      pioreactor_unit: "unit1",
      added_at: expect.any(String),
      is_active: 1,
      model_name: "pioreactor_40ml",
      model_version: "1.5",
      ipv4_address: null,
    });
    expect((await h.request("GET", "/api/units")).json).toEqual([{ pioreactor_unit: "leader" }, { pioreactor_unit: "unit1" }]);
  });

  test("assigning publishes the retained assignment record and shows up everywhere", async () => {
    const r = await h.request("PUT", "/api/experiments/exp1/workers", { pioreactor_unit: "unit1" });
    expect(r.status).toBe(200);
    // Capture 00: the record is retained at QoS 0, and so are (unretained) the server's log lines.
    const retained = await retainedMessage(h, "pioreactor/unit1/$experiment/assignment");
    expect(retained?.qos).toBe(0);
    const payload = JSON.parse(retained?.payload.toString() ?? "null");
    const [logLine] = (await h.waitForMessages(/^pioreactor\/leader\/\$experiment\/logs\/ui\/info$/)).filter((m) =>
      m.payload.toString().includes("Assigned pioreactor unit1"),
    );
    expect(logLine.qos).toBe(0);
    expect(logLine.retain).toBe(false);
    expect(Object.keys(payload)).toEqual(["pioreactor_unit", "experiment", "assigned_at", "updated_at"]);
    expect(payload).toMatchObject({ pioreactor_unit: "unit1", experiment: "exp1" });

    const assignment = await h.request("GET", "/api/workers/unit1/experiment");
    expect(assignment.json).toEqual({ pioreactor_unit: "unit1", is_active: 1, experiment: "exp1", model_name: "pioreactor_40ml", model_version: "1.5" });
    expect((await h.request("GET", "/api/experiments/exp1/workers")).json).toEqual([
      { pioreactor_unit: "unit1", is_active: 1, model_name: "pioreactor_40ml", model_version: "1.5" },
    ]);
    expect((await h.request("GET", "/api/experiments/exp1")).json.worker_count).toBe(1);
    expect((await h.request("GET", "/api/workers/assignments")).json).toEqual([
      { pioreactor_unit: "leader", experiment: null, is_active: 1 },
      { pioreactor_unit: "unit1", experiment: "exp1", is_active: 1 },
    ]);
  });

  test("unassigned or unknown workers get 404 with an error (workers read it as 'not assigned')", async () => {
    const r = await h.request("GET", "/api/workers/leader/experiment");
    expect(r.status).toBe(404);
    expect(r.json.error).toBe("Worker `leader` is not assigned to any experiment.");
    expect((await h.request("GET", "/api/workers/ghost/experiment")).status).toBe(404);
    expect((await h.request("PUT", "/api/experiments/exp1/workers", { pioreactor_unit: "ghost" })).status).toBe(400);
  });

  test("reassignment closes the history row and stops the unit's jobs in its old experiment", async () => {
    await h.request("PUT", "/api/experiments/exp2/workers", { pioreactor_unit: "unit1" });
    const history = await h.request("GET", "/api/experiments/exp1/historical_worker_assignments");
    expect(history.json).toEqual([{ pioreactor_unit: "unit1", experiment: "exp1", is_currently_assigned_to_experiment: 0 }]);
    // The fan-out reaches this same server's /unit_api/jobs/stop.
    for (let i = 0; i < 100 && !h.stopped.some((s) => s !== "all" && s.experiment === "exp1"); i++) await new Promise((r) => setTimeout(r, 20));
    expect(h.stopped).toContainEqual({ experiment: "exp1" });
  });

  test("unassign publishes experiment null; end-experiment returns TaskAccepted", async () => {
    expect((await h.request("DELETE", "/api/experiments/exp2/workers/unit1")).status).toBe(200);
    const cleared = await retainedMessage(h, "pioreactor/unit1/$experiment/assignment");
    expect(JSON.parse(cleared?.payload.toString() ?? "null")).toMatchObject({ experiment: null, assigned_at: null });
    expect((await h.request("DELETE", "/api/experiments/exp2/workers/unit1")).status).toBe(404);
    await h.request("PUT", "/api/experiments/exp2/workers", { pioreactor_unit: "unit1" });
    const end = await h.request("DELETE", "/api/experiments/exp2/workers");
    expect(end.status).toBe(202);
    expect(end.json).toEqual({ unit: "leader", task_id: expect.any(String), result_url_path: `/unit_api/task_results/${end.json.task_id}`, status: "accepted" });
    const done = await taskResult(h, end.json.result_url_path);
    expect(done.result.unit1).toEqual({ ok: true, unit: "unit1", value: true });
  });

  test("unit labels", async () => {
    expect((await h.request("PUT", "/api/experiments/exp1/unit_labels", { unit: "unit1", label: "P1" })).status).toBe(201);
    expect((await h.request("GET", "/api/experiments/exp1/unit_labels")).json).toEqual({ unit1: "P1" });
    expect((await h.request("PUT", "/api/experiments/exp1/unit_labels", { unit: "unit1", label: "" })).status).toBe(201);
    expect((await h.request("GET", "/api/experiments/exp1/unit_labels")).json).toEqual({});
  });

  test("delete experiment: TaskAccepted with a direct result; unknown gives 404", async () => {
    expect((await h.request("DELETE", "/api/experiments/nope")).status).toBe(404);
    const r = await h.request("DELETE", "/api/experiments/exp2");
    expect(r.status).toBe(202);
    const done = await taskResult(h, r.json.result_url_path);
    expect(done.status).toBe("succeeded");
    expect(done.result).toMatchObject({ result: true, experiment: "exp2", database_space: expect.objectContaining({ page_size: expect.any(Number) }) });
    expect((await h.request("GET", "/api/experiments/exp2")).status).toBe(404);
  });
});

describe("the embedded broker delivers retained QoS 0 records to live subscribers", () => {
  // aedes stores a retained QoS 0 publish before forwarding it, so the "Assigned …" log line right
  // behind it arrives first; aedes' cluster dedupe used to drop the retained record then.
  // src/pubsub/broker.ts turns that dedupe off (one broker, no cluster).
  test("live subscribers see the QoS 0 retained assignment record", async () => {
    const h = await startHarness();
    try {
      await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1" });
      await h.request("POST", "/api/experiments", { experiment: "exp1" });
      await h.request("PUT", "/api/experiments/exp1/workers", { pioreactor_unit: "unit1" });
      expect(await h.waitForMessages(/^pioreactor\/unit1\/\$experiment\/assignment$/)).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});
