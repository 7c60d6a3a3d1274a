/**
 * A pretend cluster behind a `FetchLike`, for tests, dry-run rehearsals and benchmarks. It records
 * every request (method, URL, body text) in the order it arrives and answers as the leader's `/api`
 * and the units' `/unit_api` would: workers and assignments from its inventory, starts accepted as
 * background tasks, jobs tracked as running until stopped.
 *
 * Putting the fake under the HTTP client (rather than faking the `ClusterClient` port) means the
 * recorded bodies are the exact bytes the real client sends.
 *
 * Slowness and outages are per unit: `delayMs` waits on the injected clock (so a VirtualClock
 * rehearses a slow unit instantly), `offline` rejects like a refused connection, `hang` never answers.
 */
import type { FetchInitLike, FetchLike, FetchResponseLike } from "../config/leader-http";
import type { Clock } from "../util/clock";

export interface RecordedRequest {
  method: string;
  url: string;
  /** The body text as sent, or undefined. */
  body?: string;
  /** The unit the request was addressed to (`leader` for the leader API). */
  host: string;
  /** Clock time when the request arrived. */
  atMs: number;
}

export interface FakeWorker {
  experiment: string | null;
  active?: boolean;
  modelName?: string;
  modelVersion?: string;
  /** Extra latency for requests addressed to this unit (its `/unit_api`). */
  delayMs?: number;
  offline?: boolean;
  /** Requests to this unit never get an answer (a crashed unit). */
  hang?: boolean;
}

export interface FakeClusterOptions {
  /** Unit name → state. Order = the leader's `ORDER BY pioreactor_unit` (sorted here). */
  workers: Record<string, FakeWorker>;
  clock: Clock;
  leaderHost?: string;
  port?: number;
  /** Answer starts with a task URL to poll (the original's unit API) or with an immediate result. */
  startStyle?: "task" | "immediate";
  /** Called on every request before it is answered; throw to fail it, return a status to override. */
  intercept?(req: RecordedRequest): number | undefined;
}

interface RunningJob {
  unit: string;
  job: string;
  source: string;
  experiment: string;
}

/** What the fake needs from a request's URL. */
interface Route {
  /** Addressed to the leader's `/api` (else to the unit named by `host`). */
  isApi: boolean;
  host: string;
  /** The decoded path's segments: `/api/workers/u1/experiment` → `["api", "workers", "u1", "experiment"]`. */
  seg: string[];
  /** The decoded path. */
  path: string;
}

function routeOf(url: string): Route {
  const parsed = new URL(url);
  // The leader is usually a worker too, so the API (not the host name) says who answers.
  const isApi = parsed.pathname.startsWith("/api/");
  const path = decodeURIComponent(parsed.pathname);
  return { isApi, host: isApi ? "leader" : parsed.hostname.replace(/\.local$/, ""), seg: path.split("/").filter(Boolean), path };
}

function response(status: number, body?: unknown): FetchResponseLike {
  const text = body === undefined ? "" : JSON.stringify(body);
  return { status, text: async () => text };
}

export class FakeCluster {
  readonly requests: RecordedRequest[] = [];
  readonly running: RunningJob[] = [];
  private taskSeq = 0;
  /**
   * Routes by URL. A run asks the same few URLs tens of thousands of times, and parsing a URL was a
   * tenth of a dry run; task-result URLs are unique, but there is one per start, as in `requests`.
   */
  private readonly routes = new Map<string, Route>();
  readonly leaderHost: string;
  readonly port: number;

  constructor(private readonly opts: FakeClusterOptions) {
    this.leaderHost = opts.leaderHost ?? "leader.local";
    this.port = opts.port ?? 4999;
  }

  get workers(): Record<string, FakeWorker> {
    return this.opts.workers;
  }

  leaderBaseUrl(): string {
    return `http://${this.leaderHost}:${this.port}`;
  }

  unitBaseUrl(unit: string): string {
    return `http://${unit}.local:${this.port}`;
  }

  /** Requests that change something (everything but GET), as `METHOD path body`. */
  commands(): string[] {
    return this.requests.filter((r) => r.method !== "GET").map((r) => describeRequest(r));
  }

  readonly fetch: FetchLike = async (url: string, init?: FetchInitLike) => {
    let route = this.routes.get(url);
    if (route === undefined) {
      route = routeOf(url);
      this.routes.set(url, route);
    }
    const { isApi, host } = route;
    const req: RecordedRequest = {
      method: init?.method ?? "GET",
      url,
      ...(init?.body !== undefined ? { body: init.body } : {}),
      host,
      atMs: this.opts.clock.now(),
    };
    const target = isApi ? undefined : this.opts.workers[host];
    if (target?.offline) throw new TypeError("fetch failed (connection refused)");
    if (target?.hang) {
      this.requests.push(req);
      return new Promise<FetchResponseLike>(() => undefined);
    }
    if (target?.delayMs) await this.opts.clock.sleep(target.delayMs);
    this.requests.push(req);
    const override = this.opts.intercept?.(req);
    if (override !== undefined) return response(override, { error: "intercepted", status: override });
    return this.answer(req.method, route, init?.body);
  };

  private sortedUnits(): string[] {
    return Object.keys(this.opts.workers).sort();
  }

  private answer(method: string, { isApi, host, seg, path }: Route, bodyText?: string): FetchResponseLike {
    // Only the unit API's run and stop read the body; most requests are GETs and log posts.
    const body = (): Record<string, unknown> => (bodyText ? (JSON.parse(bodyText) as Record<string, unknown>) : {});
    if (isApi) {
      // /api/experiments/<exp>/workers
      if (method === "GET" && seg[1] === "experiments" && seg[3] === "workers") {
        return response(
          200,
          this.sortedUnits()
            .filter((u) => this.opts.workers[u].experiment === seg[2])
            .map((u) => ({ pioreactor_unit: u, is_active: this.opts.workers[u].active === false ? 0 : 1, experiment: seg[2] })),
        );
      }
      if (method === "GET" && seg[1] === "workers" && seg.length === 3) {
        const w = this.opts.workers[seg[2]];
        if (!w) return response(404, { error: "Worker not found", status: 404 });
        return response(200, {
          pioreactor_unit: seg[2],
          is_active: w.active === false ? 0 : 1,
          model_name: w.modelName ?? "pioreactor_40ml",
          model_version: w.modelVersion ?? "1.5",
        });
      }
      if (method === "GET" && seg[1] === "workers" && seg[3] === "experiment") {
        const w = this.opts.workers[seg[2]];
        if (!w || w.experiment === null) return response(404, { error: "Worker is not assigned to an experiment", status: 404 });
        return response(200, { experiment: w.experiment });
      }
      if (method === "PATCH" && seg[1] === "workers" && seg[3] === "jobs" && seg[4] === "stop") {
        this.removeRunning((r) => r.unit === seg[2] && r.job === seg[6]);
        return response(202, { status: "accepted" });
      }
      if (method === "PATCH" && seg[1] === "workers" && seg[3] === "jobs" && seg[4] === "update") {
        return response(202, { status: "accepted" });
      }
      if (method === "POST" && seg[1] === "workers" && seg[5] === "logs") return response(200, { status: "success" });
      if (method === "PATCH" && seg[1] === "experiments" && seg[3] === "unit_labels") return response(200, { status: "success" });
      return response(404, { error: "Not found", status: 404 });
    }
    // A unit's /unit_api
    if (method === "PATCH" && seg[1] === "jobs" && seg[2] === "run") {
      const env = (body().env ?? {}) as Record<string, string>;
      this.running.push({ unit: host, job: seg[4], source: env.JOB_SOURCE ?? "user", experiment: env.EXPERIMENT ?? "" });
      if (this.opts.startStyle === "immediate") return response(200, { unit: host, status: "succeeded", result: { ok: true } });
      const id = `task-${++this.taskSeq}`;
      return response(202, { unit: host, task_id: id, result_url_path: `/unit_api/task_results/${id}`, status: "accepted" });
    }
    if (method === "GET" && seg[1] === "task_results") {
      return response(200, { task_id: seg[2], result_url_path: path, status: "succeeded", result: { ok: true } });
    }
    if (method === "GET" && seg[1] === "jobs" && seg[2] === "running") {
      return response(
        200,
        this.running.filter((r) => r.unit === host && (seg[3] === undefined || r.job === seg[3])).map((r) => ({ job_name: r.job, unit: r.unit })),
      );
    }
    if (method === "PATCH" && seg[1] === "jobs" && seg[2] === "stop") {
      const { job_source, experiment } = body();
      this.removeRunning((r) => r.unit === host && r.source === job_source && r.experiment === experiment);
      return response(202, { status: "accepted" });
    }
    return response(404, { error: "Not found", status: 404 });
  }

  private removeRunning(match: (r: RunningJob) => boolean): void {
    for (let i = this.running.length - 1; i >= 0; i--) if (match(this.running[i])) this.running.splice(i, 1);
  }
}

export function describeRequest(r: RecordedRequest): string {
  const path = new URL(r.url).pathname;
  const where = path.startsWith("/api/") ? "" : r.host;
  return `${r.method} ${where}${path}${r.body !== undefined ? ` ${r.body}` : ""}`;
}
