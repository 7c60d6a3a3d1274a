/**
 * `ClusterClient` over HTTP (global `fetch` or any `FetchLike`), with the original's requests:
 * methods, paths, JSON bodies in msgspec's compact form (key order kept, `400.0` stays `400.0`),
 * and mureq's headers (`User-Agent: Python/Pioreactor`, `Content-Type: application/json`), so a
 * Python leader or unit cannot tell us apart from the original executor.
 */
import type { FetchInitLike, FetchLike } from "../config/leader-http";
import { encodeMsgspecJson } from "../pubsub/msgspec-json";
import type { Clock } from "../util/clock";
import {
  type ClusterClient,
  ClusterRequestError,
  type StartJobBody,
  type StartJobResult,
  summariseHttpError,
  type UnitLogBody,
  type WorkerInfo,
} from "./cluster-client";
import type { PyValue } from "./expressions";

export interface HttpClusterClientOptions {
  /** `http://leader.local:80` (no trailing slash). */
  leaderBaseUrl: string;
  /** `http://<address>:<port>` of a unit, from `[cluster.addresses]` or mDNS. */
  unitBaseUrl(unit: string): string;
  fetch: FetchLike;
  clock: Clock;
  /** Extra headers (e.g. `Authorization` from `[ui_basic_auth]`). */
  headers?: Record<string, string>;
  /** Per-request timeout; the original uses 5 s for leader calls and task polls. */
  timeoutMs?: number;
  /** Task-result polling: the original polls 60 times, 0.1 s apart. */
  taskPolls?: number;
  taskPollIntervalMs?: number;
}

interface Answer {
  status: number;
  body: unknown;
}

const USER_AGENT = "Python/Pioreactor";

/**
 * A fetch `init` whose `signal` aborts after `timeoutMs` of wall-clock time (network timeouts are
 * real time even when the profile runs on a virtual clock). The signal is made when the fetch
 * reads it: the global fetch reads it at once, so the timeout runs from the call, while the
 * in-memory fake cluster of a dry run never reads it. An AbortSignal with its timer costs ≈ 10 µs
 * and stays alive for the whole timeout: a tenth of a 52,843-request dry run. A class, because a
 * getter defined per object (`Object.defineProperty`) costs nearly as much again.
 */
class TimedFetchInit implements FetchInitLike {
  private made: AbortSignal | undefined;
  readonly body?: string;

  constructor(
    readonly method: string,
    readonly headers: Readonly<Record<string, string>>,
    body: string | undefined,
    private readonly timeoutMs: number,
  ) {
    if (body !== undefined) this.body = body;
  }

  get signal(): AbortSignal {
    this.made ??= AbortSignal.timeout(this.timeoutMs);
    return this.made;
  }
}

/**
 * msgspec's JSON of a body. An object of strings only (a log post, a label) encodes the same with
 * JSON.stringify, which msgspec-json itself uses for keys and strings, and at a third of the cost.
 */
function encodeBody(body: unknown): string {
  if (isRecord(body) && Object.getPrototypeOf(body) === Object.prototype) {
    let onlyStrings = true;
    for (const key in body) {
      if (typeof body[key] !== "string") {
        onlyStrings = false;
        break;
      }
    }
    if (onlyStrings) return JSON.stringify(body);
  }
  return encodeMsgspecJson(body);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class HttpClusterClient implements ClusterClient {
  /** Request headers, made once: fetch only reads them, and a dry run sends 50,000 requests. */
  private readonly headers: Readonly<Record<string, string>>;
  private readonly jsonHeaders: Readonly<Record<string, string>>;

  constructor(private readonly opts: HttpClusterClientOptions) {
    this.headers = Object.freeze({ "User-Agent": USER_AGENT, ...(opts.headers ?? {}) });
    this.jsonHeaders = Object.freeze({ ...this.headers, "Content-Type": "application/json" });
  }

  addressOf(unit: string): string {
    return new URL(this.opts.unitBaseUrl(unit)).hostname;
  }

  private async request(method: string, url: string, body?: unknown): Promise<Answer> {
    const headers = body === undefined ? this.headers : this.jsonHeaders;
    const init = new TimedFetchInit(method, headers, body === undefined ? undefined : encodeBody(body), this.opts.timeoutMs ?? 5000);
    try {
      const response = await this.opts.fetch(url, init);
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === "" ? undefined : JSON.parse(text);
      } catch {
        parsed = text;
      }
      return { status: response.status, body: parsed };
    } catch (err) {
      throw new ClusterRequestError("network", `${method} ${url}: ${(err as Error).message ?? String(err)}`);
    }
  }

  private async ok(method: string, url: string, body?: unknown): Promise<Answer> {
    const answer = await this.request(method, url, body);
    if (answer.status < 200 || answer.status >= 300) {
      throw new ClusterRequestError("http", summariseHttpError(answer.status, answer.body), answer.status);
    }
    return answer;
  }

  private leader(path: string): string {
    return `${this.opts.leaderBaseUrl}${path}`;
  }

  private unit(unit: string, path: string): string {
    return `${this.opts.unitBaseUrl(unit)}${path}`;
  }

  async activeWorkersInExperiment(experiment: string): Promise<string[]> {
    const { body } = await this.ok("GET", this.leader(`/api/experiments/${encodeURIComponent(experiment)}/workers`));
    if (!Array.isArray(body)) return [];
    return body.filter((row) => isRecord(row) && Boolean(row.is_active)).map((row) => String(row.pioreactor_unit));
  }

  async assignedExperiment(unit: string): Promise<string | null> {
    const answer = await this.request("GET", this.leader(`/api/workers/${encodeURIComponent(unit)}/experiment`));
    if (answer.status === 404) return null;
    if (answer.status < 200 || answer.status >= 300) {
      throw new ClusterRequestError("http", summariseHttpError(answer.status, answer.body), answer.status);
    }
    return isRecord(answer.body) && typeof answer.body.experiment === "string" ? answer.body.experiment : null;
  }

  async workerInfo(unit: string): Promise<WorkerInfo | null> {
    const answer = await this.request("GET", this.leader(`/api/workers/${encodeURIComponent(unit)}`));
    if (answer.status < 200 || answer.status >= 300 || !isRecord(answer.body)) return null;
    const b = answer.body;
    return {
      unit,
      isActive: Boolean(b.is_active),
      ...(typeof b.model_name === "string" && b.model_name ? { modelName: b.model_name } : {}),
      ...(typeof b.model_version === "string" && b.model_version ? { modelVersion: b.model_version } : {}),
    };
  }

  async startJob(unit: string, job: string, body: StartJobBody): Promise<StartJobResult> {
    const answer = await this.ok("PATCH", this.unit(unit, `/unit_api/jobs/run/job_name/${encodeURIComponent(job)}`), body);
    const b = answer.body;
    if (isRecord(b) && typeof b.result_url_path === "string") return this.pollTask(unit, b.result_url_path);
    if (isRecord(b) && isRecord(b.result)) return resultFrom(b.result);
    return answer.body !== undefined && answer.body !== "" ? { kind: "result", ok: true } : { kind: "none" };
  }

  private async pollTask(unit: string, path: string): Promise<StartJobResult> {
    const polls = this.opts.taskPolls ?? 60;
    for (let i = 0; i < polls; i++) {
      let answer: Answer;
      try {
        answer = await this.request("GET", this.unit(unit, path));
      } catch {
        return { kind: "unreadable" };
      }
      if (answer.status < 200 || answer.status >= 300) return { kind: "unreadable" };
      const b = isRecord(answer.body) ? answer.body : {};
      const status = b.status;
      if (status === "succeeded") return isRecord(b.result) ? resultFrom(b.result) : { kind: "result", ok: Boolean(b.result) };
      if (status === "failed") return { kind: "result", ok: false, error: typeof b.error === "string" && b.error ? b.error : "Task failed." };
      const stillGoing = status === "pending" || status === "running" || answer.status === 202;
      if (!stillGoing) return { kind: "none" };
      await this.opts.clock.sleep(this.opts.taskPollIntervalMs ?? 100);
    }
    return { kind: "none" };
  }

  async isJobRunning(unit: string, job: string): Promise<boolean> {
    try {
      const answer = await this.request("GET", this.unit(unit, `/unit_api/jobs/running/${encodeURIComponent(job)}`));
      if (answer.status < 200 || answer.status >= 300) return true;
      return Array.isArray(answer.body) ? answer.body.length > 0 : Boolean(answer.body);
    } catch {
      // The original treats a failed check as "running" and lets the update itself fail.
      return true;
    }
  }

  async updateJobSettings(unit: string, experiment: string, job: string, settings: Record<string, PyValue>): Promise<void> {
    const path = `/api/workers/${encodeURIComponent(unit)}/jobs/update/job_name/${encodeURIComponent(job)}/experiments/${encodeURIComponent(experiment)}`;
    await this.ok("PATCH", this.leader(path), { settings });
  }

  async stopJob(unit: string, experiment: string, job: string): Promise<void> {
    const path = `/api/workers/${encodeURIComponent(unit)}/jobs/stop/job_name/${encodeURIComponent(job)}/experiments/${encodeURIComponent(experiment)}`;
    await this.ok("PATCH", this.leader(path));
  }

  async stopJobsFromSource(unit: string, experiment: string, jobSource: string): Promise<void> {
    await this.ok("PATCH", this.unit(unit, "/unit_api/jobs/stop"), { experiment, job_source: jobSource });
  }

  async postUnitLog(unit: string, experiment: string, body: UnitLogBody): Promise<void> {
    await this.ok("POST", this.leader(`/api/workers/${encodeURIComponent(unit)}/experiments/${encodeURIComponent(experiment)}/logs`), body);
  }

  async setUnitLabel(experiment: string, unit: string, label: string): Promise<void> {
    await this.ok("PATCH", this.leader(`/api/experiments/${encodeURIComponent(experiment)}/unit_labels`), { unit, label });
  }
}

function resultFrom(result: Record<string, unknown>): StartJobResult {
  if (!("ok" in result)) return { kind: "malformed" };
  const ok = Boolean(result.ok);
  return ok ? { kind: "result", ok } : { kind: "result", ok, error: String(result.error ?? "") };
}
