/**
 * Calls the same `/unit_api` route on several units and folds the answers into the original's
 * `FanoutMap`: `{unit: {ok: true, unit, value} | {ok: false, unit, error: {kind, message, …},
 * status_code, retryable}}`. A unit that answers 202 with a `result_url_path` is polled until its
 * task ends, and `value` becomes that task's `result`. Units are reached over HTTP at
 * `{ui.proto}://{address}:{ui.port}`, the leader included, exactly as the original does.
 */
import type { ConfigReader } from "../../config/types";
import type { Clock } from "../../util/clock";

export type FanoutErrorKind =
  | "http_error"
  | "connection_error"
  | "decode_error"
  | "task_failed"
  | "task_incomplete"
  | "task_timeout"
  | "task_exception"
  | "missing_result"
  | "invalid_response";

export type FanoutResult =
  | { ok: true; unit: string; value: unknown }
  | {
      ok: false;
      unit: string;
      error: { kind: FanoutErrorKind; message: string; cause?: string; remediation?: string };
      status_code: number | null;
      retryable: boolean;
    };

export type FanoutMap = Record<string, FanoutResult>;

export type HttpMethod = "GET" | "POST" | "PATCH" | "DELETE";

export interface FanoutOptions {
  /** Per-request HTTP timeout; the original uses 2 s for writes and 5 s for reads. */
  requestTimeoutMs?: number;
  /** How long to poll a unit's own task (30 s in the original). */
  taskTimeoutMs?: number;
  pollIntervalMs?: number;
}

export interface FanoutDeps {
  fetch: typeof fetch;
  clock: Clock;
  config: () => ConfigReader;
  /** Overrides where a unit is reached (tests, the simulated cluster). */
  unitBaseUrl?: (unit: string) => string;
}

/** `{ui.proto}://{address}:{ui.port}`: `[cluster.addresses] <unit>` or `<unit>.local` (mDNS). */
export function unitBaseUrlFromConfig(config: ConfigReader, unit: string): string {
  const proto = config.get("ui", "proto") || "http";
  const port = config.get("ui", "port") || "80";
  const address = config.get("cluster.addresses", unit) || `${unit}.local`;
  const host = address.includes(":") && !address.startsWith("[") ? `[${address}]` : address;
  return `${proto}://${host}:${port}`;
}

function failure(
  unit: string,
  kind: FanoutErrorKind,
  message: string,
  statusCode: number | null,
  retryable: boolean,
  extra: { cause?: string; remediation?: string } = {},
): FanoutResult {
  const error: { kind: FanoutErrorKind; message: string; cause?: string; remediation?: string } = { kind, message };
  if (extra.cause) error.cause = extra.cause;
  if (extra.remediation) error.remediation = extra.remediation;
  return { ok: false, unit, error, status_code: statusCode, retryable };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class Fanout {
  constructor(private readonly deps: FanoutDeps) {}

  baseUrl(unit: string): string {
    return this.deps.unitBaseUrl ? this.deps.unitBaseUrl(unit) : unitBaseUrlFromConfig(this.deps.config(), unit);
  }

  private headers(hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = {};
    if (hasBody) headers["Content-Type"] = "application/json";
    const key = this.deps.config().get("ui_basic_auth", "api_key");
    if (key) headers.Authorization = `Basic ${key}`;
    return headers;
  }

  /**
   * One request per unit, all at once. `body` is either one body for every unit or a function
   * giving each unit its own (the leader's run route adds per-unit env).
   */
  async multicast(
    method: HttpMethod,
    endpoint: string,
    units: readonly string[],
    body?: unknown | ((unit: string) => unknown),
    options: FanoutOptions = {},
  ): Promise<FanoutMap> {
    const results = await Promise.all(
      units.map((unit) => this.callOne(method, endpoint, unit, typeof body === "function" ? (body as (u: string) => unknown)(unit) : body, options)),
    );
    const map: FanoutMap = {};
    const ordered = method === "GET" ? [...results].sort((a, b) => a.unit.localeCompare(b.unit)) : results;
    for (const r of ordered) map[r.unit] = r;
    return map;
  }

  async callOne(method: HttpMethod, endpoint: string, unit: string, body: unknown, options: FanoutOptions = {}): Promise<FanoutResult> {
    const base = this.baseUrl(unit);
    const timeoutMs = options.requestTimeoutMs ?? (method === "GET" ? 5000 : 2000);
    let response: Response;
    try {
      response = await this.deps.fetch(`${base}${endpoint}`, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      return failure(unit, "connection_error", `Could not reach ${unit}: ${(e as Error).message}`, null, true);
    }
    let payload: unknown;
    const text = await response.text();
    try {
      payload = text === "" ? null : JSON.parse(text);
    } catch {
      if (response.status >= 400) return failure(unit, "http_error", `HTTP ${response.status}.`, response.status, response.status >= 500);
      return failure(unit, "decode_error", `${unit} answered with invalid JSON.`, response.status, false);
    }
    if (response.status >= 400) {
      const env = isObject(payload) ? payload : {};
      const message = typeof env.error === "string" ? env.error : `HTTP ${response.status}.`;
      return failure(unit, "http_error", message, response.status, response.status >= 500, {
        cause: typeof env.cause === "string" ? env.cause : undefined,
        remediation: typeof env.remediation === "string" ? env.remediation : undefined,
      });
    }
    if (response.status === 202 && isObject(payload) && typeof payload.result_url_path === "string") {
      return this.pollTask(unit, base, payload.result_url_path, options);
    }
    if (isObject(payload) && payload.status === "success") {
      const { status: _status, ...rest } = payload;
      return { ok: true, unit, value: rest };
    }
    return { ok: true, unit, value: payload };
  }

  private async pollTask(unit: string, base: string, resultPath: string, options: FanoutOptions): Promise<FanoutResult> {
    const deadline = this.deps.clock.now() + (options.taskTimeoutMs ?? 30_000);
    const interval = options.pollIntervalMs ?? 250;
    for (;;) {
      let response: Response;
      try {
        response = await this.deps.fetch(`${base}${resultPath}`, { headers: this.headers(false), signal: AbortSignal.timeout(5000) });
      } catch (e) {
        return failure(unit, "connection_error", `Lost ${unit} while waiting for its task: ${(e as Error).message}`, null, true);
      }
      let payload: unknown;
      try {
        payload = await response.json();
      } catch {
        return failure(unit, "decode_error", `${unit} answered its task poll with invalid JSON.`, response.status, false);
      }
      if (!isObject(payload)) return failure(unit, "invalid_response", `${unit} answered its task poll with an unexpected shape.`, response.status, false);
      if (payload.status === "succeeded") {
        if (!("result" in payload)) return failure(unit, "missing_result", `${unit}'s task finished without a result.`, response.status, false);
        return { ok: true, unit, value: payload.result };
      }
      if (payload.status === "failed") {
        return failure(unit, "task_failed", typeof payload.error === "string" ? payload.error : "Task failed.", response.status, false, {
          cause: typeof payload.cause === "string" ? payload.cause : undefined,
          remediation: typeof payload.remediation === "string" ? payload.remediation : undefined,
        });
      }
      if (response.status !== 202) return failure(unit, "invalid_response", `${unit} answered its task poll with HTTP ${response.status}.`, response.status, false);
      if (this.deps.clock.now() >= deadline) {
        return failure(unit, "task_timeout", `${unit}'s task did not finish in time.`, null, true);
      }
      await this.deps.clock.sleep(interval);
    }
  }
}
