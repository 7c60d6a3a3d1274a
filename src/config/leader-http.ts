/**
 * How a unit talks HTTP to the leader and to other units: base URLs from `[ui] proto/port`,
 * addresses from `[cluster.addresses]` (else mDNS `<unit>.local`), and the `Authorization: Basic`
 * header when `[ui_basic_auth] api_key` is set. The transport is an injected fetch-like function.
 */
import { isIP } from "node:net";
import type { Clock } from "../util/clock";
import type { ConfigReader } from "./types";

export interface FetchResponseLike {
  status: number;
  text(): Promise<string>;
}

export interface FetchInitLike {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** The subset of the global `fetch` this project uses, so tests can pass a fake. */
export type FetchLike = (url: string, init?: FetchInitLike) => Promise<FetchResponseLike>;

/** `http://addr:port`, from `[ui] proto` (default http) and `[ui] port` (default 80). */
export function webBaseUrl(config: ConfigReader, address: string): string {
  const proto = config.getString("ui", "proto", "http");
  const port = config.getInt("ui", "port", 80);
  return `${proto}://${address}:${port}`;
}

/** A unit's network address: `[cluster.addresses] <unit>`, else its mDNS name. */
export function resolveUnitAddress(config: ConfigReader, unit: string): string {
  const configured = config.get("cluster.addresses", unit);
  if (configured !== undefined && configured !== null) return configured;
  return withLocalSuffix(unit);
}

/** `<host>.local`, except for localhost, IP addresses and names already ending in .local. */
export function withLocalSuffix(hostname: string): string {
  if (hostname.toLowerCase() === "localhost") return hostname;
  if (isIP(hostname) !== 0) return hostname;
  if (hostname.toLowerCase().endsWith(".local")) return hostname;
  return `${hostname.trim()}.local`;
}

export function authHeaders(config: ConfigReader): Record<string, string> {
  const apiKey = config.getString("ui_basic_auth", "api_key", "");
  return apiKey ? { Authorization: `Basic ${apiKey}` } : {};
}

export interface HttpJsonResult {
  status: number;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  body: unknown;
}

export interface JsonGetterDeps {
  config: ConfigReader;
  fetch: FetchLike;
  clock: Clock;
  /** Per-request timeout; the original uses 5 s. */
  timeoutMs?: number;
}

/** GET `<baseUrl><path>` with the cluster's auth header; resolves with any HTTP status, rejects on network failure or timeout. */
export async function getJson(deps: JsonGetterDeps, baseUrl: string, path: string): Promise<HttpJsonResult> {
  const controller = new AbortController();
  const timeoutMs = deps.timeoutMs ?? 5000;
  const timer = deps.clock.setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  try {
    const response = await deps.fetch(`${baseUrl}${path}`, {
      method: "GET",
      headers: { Accept: "application/json", ...authHeaders(deps.config) },
      signal: controller.signal,
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body };
  } finally {
    timer.cancel();
  }
}
