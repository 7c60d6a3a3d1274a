/** The HTTP cluster client against a real HTTP server on loopback: methods, paths, bodies, headers, task polling, errors. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ClusterRequestError } from "../../../src/profiles/cluster-client";
import { HttpClusterClient } from "../../../src/profiles/http-cluster-client";
import type { FetchLike } from "../../../src/config/leader-http";
import { encodeMsgspecJson } from "../../../src/pubsub/msgspec-json";
import { RealClock } from "../../../src/util/clock";
import { PyInt } from "../../../src/util/python-format";

interface Seen {
  method: string;
  url: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

let server: http.Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", body, headers: req.headers });
      const send = (status: number, data: unknown) => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(data));
      };
      if (req.url === "/unit_api/jobs/run/job_name/stirring") return send(202, { unit: "u", task_id: "t1", result_url_path: "/unit_api/task_results/t1", status: "accepted" });
      if (req.url === "/unit_api/task_results/t1") {
        const polls = seen.filter((s) => s.url === req.url).length;
        return polls < 2 ? send(202, { status: "pending" }) : send(200, { status: "succeeded", result: { ok: true } });
      }
      if (req.url === "/api/workers/hung/experiment") return; // never answers
      if (req.url === "/api/workers/ghost/experiment") return send(404, { error: "Worker not assigned", status: 404 });
      if (req.url?.startsWith("/api/workers/u1/jobs/update")) return send(400, { error: "Bad setting", status: 400, cause: "nope", remediation: "fix it" });
      if (req.url === "/api/experiments/exp1/workers") return send(200, [{ pioreactor_unit: "a", is_active: 1 }, { pioreactor_unit: "b", is_active: 0 }]);
      send(202, { status: "accepted" });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(
  () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    }),
);
beforeEach(() => {
  seen.length = 0;
});

const client = () =>
  new HttpClusterClient({ leaderBaseUrl: base, unitBaseUrl: () => base, fetch: globalThis.fetch as unknown as FetchLike, clock: new RealClock(), taskPollIntervalMs: 10 });

test("start: PATCH with the original's body bytes and headers, then polls the task result", async () => {
  const result = await client().startJob("u", "stirring", {
    options: { target_rpm: 400.0, n: new PyInt(3) },
    env: { JOB_SOURCE: "experiment_profile/1", EXPERIMENT: "exp1" },
    args: [],
    config_overrides: [["stirring.config", "pwm_hz", "150"]],
  });
  expect(result).toEqual({ kind: "result", ok: true });
  expect(seen[0].method).toBe("PATCH");
  expect(seen[0].body).toBe(
    '{"options":{"target_rpm":400.0,"n":3},"env":{"JOB_SOURCE":"experiment_profile/1","EXPERIMENT":"exp1"},"args":[],"config_overrides":[["stirring.config","pwm_hz","150"]]}',
  );
  expect(seen[0].headers["content-type"]).toBe("application/json");
  expect(seen[0].headers["user-agent"]).toBe("Python/Pioreactor");
  expect(seen.slice(1).map((s) => `${s.method} ${s.url}`)).toEqual(["GET /unit_api/task_results/t1", "GET /unit_api/task_results/t1"]);
});

test("stop has no body; active workers keep only active rows; 404 assignment is null", async () => {
  const c = client();
  await c.stopJob("u1", "exp1", "stirring");
  expect(seen[0]).toMatchObject({ method: "PATCH", url: "/api/workers/u1/jobs/stop/job_name/stirring/experiments/exp1", body: "" });
  expect(seen[0].headers["content-type"]).toBeUndefined();
  expect(await c.activeWorkersInExperiment("exp1")).toEqual(["a"]);
  expect(await c.assignedExperiment("ghost")).toBeNull();
});

test("errors: an HTTP error carries the original's summary; a refused connection is a network error", async () => {
  await expect(client().updateJobSettings("u1", "exp1", "stirring", { target_rpm: 1 })).rejects.toThrow(
    "HTTP 400: Bad setting Cause: nope Remediation: fix it",
  );
  const dead = new HttpClusterClient({ leaderBaseUrl: "http://127.0.0.1:1", unitBaseUrl: () => "http://127.0.0.1:1", fetch: globalThis.fetch as unknown as FetchLike, clock: new RealClock() });
  const err = await dead.stopJob("u", "e", "j").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ClusterRequestError);
  expect((err as ClusterRequestError).kind).toBe("network");
});

test("a request with no answer fails as a network error after the timeout (wall-clock)", async () => {
  const c = new HttpClusterClient({ leaderBaseUrl: base, unitBaseUrl: () => base, fetch: globalThis.fetch as unknown as FetchLike, clock: new RealClock(), timeoutMs: 150 });
  const started = Date.now();
  const err = await c.assignedExperiment("hung").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ClusterRequestError);
  expect((err as ClusterRequestError).kind).toBe("network");
  expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  expect(Date.now() - started).toBeLessThan(3000);
});

test("a log post's body is msgspec's JSON, odd characters included", async () => {
  const body = {
    message: 'tick "1" \\ é ✓ \n\t\u0001 \u2028 \ud800 done',
    timestamp: "2026-01-01T00:00:00.000Z",
    level: "INFO",
    source: "experiment_profile/1",
    task: "experiment_profile/1",
    source_: "app",
  };
  await client().postUnitLog("u1", "exp1", body);
  expect(seen[0].body).toBe(encodeMsgspecJson(body));
  await client().setUnitLabel("exp1", "u1", "ünit 1");
  expect(seen[1].body).toBe('{"unit":"u1","label":"ünit 1"}');
});
