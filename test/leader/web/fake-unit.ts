/**
 * A stand-in for a worker's `/unit_api` on loopback: it records every request, answers job starts
 * with a task that has already succeeded (as a healthy Python worker would) and then lists the job
 * as running.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface FakeUnit {
  url: string;
  requests: RecordedRequest[];
  /** Requests whose path matches, waiting up to `ms` for at least `count`. */
  waitFor(pattern: RegExp, count?: number, ms?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

export async function startFakeUnit(unit: string): Promise<FakeUnit> {
  const requests: RecordedRequest[] = [];
  let tasks = 0;
  // Jobs started here count as running from then on (updates and stops check it first).
  const started = new Set<string>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = req.url ?? "/";
      requests.push({ method: req.method ?? "GET", path, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
      };
      if (path.startsWith("/unit_api/jobs/run/job_name/")) {
        started.add(path.split("/").pop() ?? "");
        const id = `t${++tasks}`;
        return json(202, { unit, task_id: id, result_url_path: `/unit_api/task_results/${id}`, status: "accepted" });
      }
      if (path.startsWith("/unit_api/task_results/")) {
        const id = path.split("/").pop();
        return json(200, { task_id: id, result_url_path: path, status: "succeeded", result: { ok: true } });
      }
      if (path.startsWith("/unit_api/jobs/running/")) {
        const job = path.split("/").pop() ?? "";
        return json(200, started.has(job) ? [{ job_name: job, unit, is_running: 1 }] : []);
      }
      json(200, { status: "success" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    async waitFor(pattern, count = 1, ms = 5000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = requests.filter((r) => pattern.test(r.path));
        if (found.length >= count || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
