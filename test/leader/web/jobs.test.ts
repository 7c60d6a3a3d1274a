/** Job control as capture 11 shows it: run via the unit API (TaskAccepted → {ok: true}), settings and stop over MQTT /set QoS 1. */
import { pioRunArgv, scrubJobEnv } from "../../../src/leader/web/job-launcher";
import { type Harness, startHarness, taskResult } from "./harness";

describe("job control", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.request("POST", "/api/experiments", { experiment: "exp1" });
    await h.request("PUT", "/api/workers", { pioreactor_unit: "unit1", model_name: "pioreactor_40ml", model_version: "1.5" });
    await h.request("PUT", "/api/experiments/exp1/workers", { pioreactor_unit: "unit1" });
  });
  afterAll(() => h.close());

  test("/unit_api/jobs/run answers 202 TaskAccepted and the task result is {ok: true}", async () => {
    const body = { options: { target_rpm: 300 }, env: { EXPERIMENT: "exp1", HOSTNAME: "unit1", TESTING: "1", JOB_SOURCE: "user" }, args: [], config_overrides: [["stirring.config", "pwm_hz", "150"]] };
    const r = await h.request("PATCH", "/unit_api/jobs/run/job_name/stirring", body, { "Content-Type": "application/json" });
    expect(r.status).toBe(202);
    expect(Object.keys(r.json)).toEqual(["unit", "task_id", "result_url_path", "status"]);
    const done = await taskResult(h, r.json.result_url_path);
    expect(done).toEqual({ task_id: r.json.task_id, result_url_path: r.json.result_url_path, status: "succeeded", result: { ok: true } });
    expect(h.launched.at(-1)).toEqual({ jobName: "stirring", args: [], options: { target_rpm: 300 }, configOverrides: [["stirring.config", "pwm_hz", "150"]], env: body.env });
    const again = await h.request("PATCH", "/unit_api/jobs/run/job_name/stirring", body);
    expect(again.status).toBe(429);
  });

  test("a failed start is reported by the task, not the request", async () => {
    h.context.jobLauncher.launch = async () => {
      throw new Error("Command exited during startup grace window. Exit code 1. boom");
    };
    const r = await h.request("POST", "/unit_api/jobs/run/job_name/od_reading", {});
    const done = await taskResult(h, r.json.result_url_path);
    expect(done).toMatchObject({ status: "failed", error: "Command exited during startup grace window. Exit code 1. boom" });
    h.context.jobLauncher.launch = async (req) => {
      h.launched.push(req);
      return { ok: true };
    };
  });

  test("leader run fans out with per-unit env; the FanoutMap value is the unit task's result", async () => {
    const r = await h.request("PATCH", "/api/workers/unit1/jobs/run/job_name/growth_rate_calculating/experiments/exp1", {
      options: {},
      env: { EXPERIMENT: "exp1", JOB_SOURCE: "user" },
    });
    expect(r.status).toBe(202);
    const done = await taskResult(h, r.json.result_url_path);
    expect(done.result).toEqual({ unit1: { ok: true, unit: "unit1", value: { ok: true } } });
    expect(h.launched.at(-1)!.env).toEqual({ EXPERIMENT: "exp1", JOB_SOURCE: "user", HOSTNAME: "unit1", ACTIVE: "1", TESTING: "0", MODEL_NAME: "pioreactor_40ml", MODEL_VERSION: "1.5" });
    const missing = await h.request("PATCH", "/api/workers/ghost/jobs/run/job_name/stirring/experiments/exp1", {});
    expect(missing.status).toBe(404);
    expect(missing.json.error).toBe("Worker(s) ghost not found, not active, or not assigned to experiment exp1.");
  });

  test("update publishes each setting to /set with QoS 1 (Python str() payloads)", async () => {
    const r = await h.request("PATCH", "/api/workers/unit1/jobs/update/job_name/stirring/experiments/exp1", { settings: { target_rpm: 333, enable_dodging_od: true } });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ status: "accepted" });
    const [rpm] = await h.waitForMessages(/^pioreactor\/unit1\/exp1\/stirring\/target_rpm\/set$/);
    expect(rpm.payload.toString()).toBe("333");
    expect(rpm.qos).toBe(1);
    const [flag] = await h.waitForMessages(/enable_dodging_od\/set$/);
    expect(flag.payload.toString()).toBe("True");
    const bad = await h.request("PATCH", "/api/workers/unit1/jobs/update/job_name/stirring/experiments/exp1", { settings: { target_rpm: 1, x: { a: 1 } } });
    expect(bad.status).toBe(400);
    expect(h.messages.filter((m) => m.topic.endsWith("target_rpm/set") && m.payload.toString() === "1")).toHaveLength(0);
  });

  test("stop publishes $state/set disconnected; stop-all answers 202 success", async () => {
    const r = await h.request("PATCH", "/api/workers/unit1/jobs/stop/job_name/stirring/experiments/exp1");
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ status: "accepted" });
    const [msg] = await h.waitForMessages(/^pioreactor\/unit1\/exp1\/stirring\/\$state\/set$/);
    expect(msg.payload.toString()).toBe("disconnected");
    const all = await h.request("POST", "/api/workers/$broadcast/jobs/stop/experiments/exp1");
    expect(all.status).toBe(202);
    expect(all.json).toEqual({ status: "success" });
  });

  test("/unit_api/jobs/stop needs a filter; running and settings come from the registry", async () => {
    expect((await h.request("POST", "/unit_api/jobs/stop", {})).status).toBe(400);
    const stop = await h.request("POST", "/unit_api/jobs/stop", { job_name: "stirring" });
    expect((await taskResult(h, stop.json.result_url_path)).result).toBe(true);
    expect(h.stopped).toContainEqual({ job_name: "stirring" });
    const id = h.registry.register({ unit: "leader", experiment: "exp1", jobName: "stirring", jobSource: "user", pid: process.pid, leader: "leader", isLongRunning: false });
    h.registry.upsertSetting(id, "target_rpm", 300.5);
    const running = await h.request("GET", "/unit_api/jobs/running");
    expect(running.json[0]).toEqual(expect.objectContaining({ job_id: id, job_name: "stirring", is_running: 1, ended_at: null }));
    expect((await h.request("GET", "/unit_api/jobs/settings/job_name/stirring")).json).toEqual({ settings: { target_rpm: 300.5 } });
    expect((await h.request("GET", "/unit_api/jobs/settings/job_name/stirring/setting/target_rpm")).json).toEqual({ target_rpm: 300.5 });
    expect((await h.request("GET", "/unit_api/jobs/settings/job_name/nope")).status).toBe(404);
  });
});

describe("pio run command line and environment", () => {
  test("argv: overrides first, options dashed, null options as bare flags", () => {
    expect(pioRunArgv({ jobName: "stirring", args: ["a"], options: { target_rpm: 300, use_rpm: true, dry_run: null }, configOverrides: [["s", "k", "v"]] })).toEqual([
      "run", "--config-override", "s", "k", "v", "stirring", "a", "--target-rpm", "300", "--use-rpm", "True", "--dry-run",
    ]);
  });

  test("env: only the allow-list, request over server, empty and None dropped, no PATH/HOME", () => {
    const env = scrubJobEnv({ PATH: "/bin", HOME: "/root", DOT_PIOREACTOR: "/d", TESTING: "1", DEBUG: "" }, { EXPERIMENT: "e", TESTING: "0", MODEL_NAME: "None", SECRET: "x" });
    expect(env).toEqual({ EXPERIMENT: "e", TESTING: "0", DOT_PIOREACTOR: "/d" });
  });
});
