/**
 * HTTP from the leader's CLI to the leader's `/api` and to each unit's `/unit_api`, with the
 * original's addressing (`[cluster.addresses]`, else `<unit>.local`; `[ui] proto/port`), auth
 * header and User-Agent. The transport is injected; network failures become `UnreachableError`
 * so commands can report them per unit.
 */
import { leaderAddress } from "../../config/identity";
import { authHeaders, type FetchLike, resolveUnitAddress, webBaseUrl } from "../../config/leader-http";
import type { ConfigReader } from "../../config/types";
import type { Clock } from "../../util/clock";

export const USER_AGENT = "Python/Pioreactor";

export interface HttpReply {
  status: number;
  ok: boolean;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

export class UnreachableError extends Error {
  constructor(
    readonly address: string,
    reason: string,
  ) {
    super(reason);
    this.name = "UnreachableError";
  }
}

export interface ClusterHttpDeps {
  config: ConfigReader;
  fetch: FetchLike;
  clock: Clock;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export class ClusterHttp {
  constructor(private readonly deps: ClusterHttpDeps) {}

  /** The host a unit is reached at (what the original prints in its error lines). */
  addressOf(unit: string): string {
    return resolveUnitAddress(this.deps.config, unit);
  }

  leader(method: HttpMethod, path: string, body?: unknown, timeoutMs = 10_000): Promise<HttpReply> {
    const address = leaderAddress(this.deps.config);
    return this.send(address, method, path, body, timeoutMs);
  }

  unit(unit: string, method: HttpMethod, path: string, body?: unknown, timeoutMs = 30_000): Promise<HttpReply> {
    return this.send(this.addressOf(unit), method, path, body, timeoutMs);
  }

  private async send(address: string, method: HttpMethod, path: string, body: unknown, timeoutMs: number): Promise<HttpReply> {
    const headers: Record<string, string> = { "User-Agent": USER_AGENT, Accept: "application/json", ...authHeaders(this.deps.config) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const controller = new AbortController();
    const timer = this.deps.clock.setTimeout(() => controller.abort(), timeoutMs);
    try {
      const response = await this.deps.fetch(`${webBaseUrl(this.deps.config, address)}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
        signal: controller.signal,
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = text === "" ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, ok: response.status >= 200 && response.status < 300, text, json };
    } catch (e) {
      const reason = controller.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : describeNetworkError(e);
      throw new UnreachableError(address, reason);
    } finally {
      timer.cancel();
    }
  }
}

/** Node's fetch hides the useful part (ECONNREFUSED, ENOTFOUND) in `cause`. */
function describeNetworkError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.cause?.code) return `${err.cause.code}: ${err.cause.message ?? err.message}`;
  return err?.message ?? String(e);
}

/** One line from a non-2xx reply: status, then the error envelope's error, cause and remediation. */
export function summarizeErrorReply(reply: HttpReply): string {
  const body = reply.json as { error?: unknown; cause?: unknown; remediation?: unknown } | undefined;
  const parts = [`HTTP ${reply.status}`];
  if (body && typeof body === "object") {
    if (body.error) parts.push(String(body.error));
    if (body.cause) parts.push(`Cause: ${String(body.cause)}`);
    if (body.remediation) parts.push(`Remediation: ${String(body.remediation)}`);
  } else if (reply.text.trim()) {
    parts.push(reply.text.trim().slice(0, 200));
  }
  // Causes usually end in their own period; joining with ". " must not double it.
  return parts.map((part, i) => (i < parts.length - 1 ? part.replace(/\.+$/, "") : part)).join(". ");
}
