/** Small response helpers shared by the route modules. */
import type { Response } from "express";

/** `Cache-Control: public, max-age=N` (the original's `attach_cache_control`, default 5). */
export function cacheFor(res: Response, seconds = 5): Response {
  return res.setHeader("Cache-Control", `public, max-age=${seconds}`);
}

/** Path parameters arrive percent-decoded from Express; this is for values it leaves alone. */
export function param(value: string | string[] | undefined): string {
  return Array.isArray(value) ? value.join("/") : (value ?? "");
}

export function sendText(res: Response, text: string, status = 200): void {
  res.status(status).type("text/plain; charset=utf-8").send(text);
}
