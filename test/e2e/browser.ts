/**
 * Headless Debian Chromium through playwright-core, loopback only: every request to another host
 * is aborted (fonts, update checks) and not counted. A recorder collects failed API calls
 * (HTTP ≥ 400 on /api or /unit_api, or a failed loopback request) and console errors.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BrowserContext, Page } from "playwright-core";

export const CHROMIUM = process.env.E2E_CHROMIUM ?? "/usr/bin/chromium";

type PlaywrightCore = typeof import("playwright-core");

/** playwright-core, or why it cannot be loaded. */
export function loadPlaywright(): { pw?: PlaywrightCore; problem?: string } {
  if (!fs.existsSync(CHROMIUM)) return { problem: `${CHROMIUM} is missing (apt-get install chromium)` };
  try {
    return { pw: require("playwright-core") as PlaywrightCore };
  } catch (e) {
    return { problem: `playwright-core cannot be loaded (${(e as Error).message.split("\n")[0]})` };
  }
}

export function isLoopback(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return true; // data:, blob: and the like stay in the page
  }
  return host === "127.0.0.1" || host === "localhost" || host === "[::1]" || host === "::1" || url.startsWith("data:") || url.startsWith("blob:");
}

export interface Problem {
  kind: "api" | "network" | "console" | "pageerror";
  text: string;
  page: string;
}

export interface Session {
  context: BrowserContext;
  page: Page;
  problems: Problem[];
  /** Every /api and /unit_api call made: `METHOD path → status`. */
  apiCalls: string[];
  blocked: string[];
  userDataDir: string;
  /** The current step name, stamped on problems. */
  step: string;
  close(): Promise<void>;
}

export async function openSession(pw: PlaywrightCore): Promise<Session> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-e2e-chromium-"));
  // A fresh profile directory (playwright wants it as launchPersistentContext's argument, not --user-data-dir).
  const context = await pw.chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const s: Session = {
    context,
    page,
    problems: [],
    apiCalls: [],
    blocked: [],
    userDataDir,
    step: "start",
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (isLoopback(url)) return route.continue();
    s.blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const isApi = (url: string) => /^\/(api|unit_api)(\/|$)/.test(new URL(url).pathname);
  page.on("response", async (res) => {
    const url = res.url();
    if (!isLoopback(url) || !isApi(url)) return;
    const u = new URL(url);
    const line = `${res.request().method()} ${u.pathname}${u.search} → ${res.status()}`;
    s.apiCalls.push(line);
    if (res.status() >= 400) {
      const body = await res.text().catch(() => "");
      s.problems.push({ kind: "api", text: `${line} ${body.slice(0, 300)}`, page: s.step });
    }
  });
  page.on("requestfailed", (req) => {
    const url = req.url();
    if (!isLoopback(url)) return;
    const err = req.failure()?.errorText ?? "failed";
    // A navigation or reload cancels in-flight requests (net::ERR_ABORTED): the page's own doing.
    if (err === "net::ERR_ABORTED") return;
    s.problems.push({ kind: "network", text: `${req.method()} ${url} ${err}`, page: s.step });
  });
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    // Chromium's own report of the requests we blocked on purpose.
    if (/net::ERR_BLOCKED_BY_CLIENT/.test(text)) return;
    s.problems.push({ kind: "console", text: `${text} @ ${msg.location().url}`, page: s.step });
  });
  page.on("pageerror", (err) => s.problems.push({ kind: "pageerror", text: `${err.message}`, page: s.step }));
  return s;
}
