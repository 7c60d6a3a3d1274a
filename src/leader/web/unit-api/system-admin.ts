/**
 * This unit's machine: memory, address, web server status, power, clock and software updates.
 * Power, clock and update commands run through the injected `SystemPort` as tasks under the
 * original's locks (power-lock with one action per 15 s, clock-lock, update-lock). Under TESTING they
 * succeed without running anything, as the original's tasks do; off a Raspberry Pi they are refused
 * with 403 rather than rebooting or re-timing a laptop.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { type Request, type Response, Router } from "express";
import { UNIVERSAL_EXPERIMENT } from "../../../pubsub/topics";
import { isoMillis } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, forbidden, HttpError, notFound } from "../http-errors";
import { cacheFor, param } from "../http-util";
import { decodeBody } from "../request-body";
import { processSystemPort, type SystemPort } from "../system-port";
import { sendLocked, TaskLocks } from "../task-locks";
import { updateOptionProblem } from "../update-options";

const POWER_RATE_LIMIT_MS = 15_000;
/** The leader answers its own fan-out before going down. */
const LEADER_REBOOT_DELAY_MS = 5_000;

/** `MemAvailable`/`MemTotal` from /proc/meminfo (what the original reads), else Node's view. */
export function memoryStats(meminfo = "/proc/meminfo"): { available_bytes: number; total_bytes: number } {
  try {
    const text = fs.readFileSync(meminfo, "utf8");
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)?.[1]);
    const available = kib("MemAvailable");
    const total = kib("MemTotal");
    if (Number.isFinite(available) && Number.isFinite(total)) return { available_bytes: available * 1024, total_bytes: total * 1024 };
  } catch {
    // not Linux: fall through
  }
  return { available_bytes: os.freemem(), total_bytes: os.totalmem() };
}

/** The first non-internal IPv4 address, as the original's `get_ip()`. */
export function firstIpv4(): string | null {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return null;
}

/** `options` → `pio update app` flags, with the original's checks on branch, repo and sha. */
export function updateAppArgs(args: string[], options: Record<string, unknown>): string[] {
  const out = [...args];
  for (const [option, raw] of Object.entries(options)) {
    if (["branch", "repo", "sha"].includes(option) && (raw === null || raw === undefined)) throw badRequest(`Option '${option}' requires a value.`);
    const value = raw === null || raw === undefined ? undefined : String(raw);
    const problem = value === undefined ? undefined : updateOptionProblem(option, value);
    if (problem) throw badRequest(problem, { remediation: "Use a valid git branch, owner/name repo or commit SHA." });
    if (!/^[A-Za-z0-9_-]+$/.test(option)) throw badRequest(`Invalid option name: ${option}`);
    out.push(`--${option.replace(/_/g, "-")}`);
    if (value !== undefined) out.push(value);
  }
  if (out.some((a) => a.includes("\0"))) throw badRequest("Arguments may not contain NUL bytes.");
  return out;
}

function isIsoTimestamp(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text) && !Number.isNaN(Date.parse(text));
}

export function unitSystemAdminRoutes(ctx: WebContext): Router {
  const r = Router();
  const system: SystemPort = ctx.system ?? processSystemPort();
  const locks = new TaskLocks(() => ctx.clock.now());
  const log = ctx.serverLog.child("unit_api", UNIVERSAL_EXPERIMENT);

  /** Refuses machine-level commands where they would hit the wrong machine. */
  const requirePi = (what: string) => {
    if (ctx.testing || system.isRaspberryPi()) return;
    throw forbidden(`Refusing to ${what}: this unit is not a Raspberry Pi.`, {
      cause: "Power, clock and update commands act only on a Pioreactor's Raspberry Pi.",
      remediation: `Run the command on the machine itself if you really mean to ${what}.`,
    });
  };

  /** Runs a command unless testing; true when it exited 0. */
  const runCommand = async (command: string, args: string[]): Promise<boolean> => {
    if (ctx.testing) return true;
    const result = await system.run(command, args);
    if (result.exitCode !== 0) log.error(`\`${[command, ...args].join(" ")}\` failed with exit code ${result.exitCode}: ${result.stderr.trim()}`);
    return result.exitCode === 0;
  };

  r.get("/system/memory", (_req, res) => {
    cacheFor(res, 10).json(memoryStats());
  });

  r.get("/system/ipv4", (_req, res) => {
    cacheFor(res, 0).json({ ipv4_address: firstIpv4() });
  });

  /** This process is the web server (and its task queue): answering at all means it is up. */
  r.get("/system/web_server/status", (_req, res) => {
    if (!ctx.isLeader) throw forbidden("This endpoint is only available on the leader.");
    cacheFor(res, 0).json({ service: "pio serve", state: "ready", raw_status: "pio serve=active" });
  });

  /** Restarts the web server's systemd target (leader only), as the original's Leader page button. */
  const restartWebServer = (_req: Request, res: Response) => {
    if (!ctx.isLeader) throw forbidden("This endpoint is only available on the leader.");
    if (locks.isLocked("web-restart-lock")) return sendLocked(res, "web-restart-lock");
    requirePi("restart the web server");
    const work = locks.hold("web-restart-lock", async () => {
      locks.rateLimit("web-restart", POWER_RATE_LIMIT_MS);
      return runCommand("sudo", ["systemctl", "restart", "pioreactor-web.target"]);
    });
    res.status(202).json(ctx.tasks.submit(work));
  };
  r.post("/system/web_server/restart", restartWebServer);
  r.patch("/system/web_server/restart", restartWebServer);

  /** `pio repair` (file permissions of a Python install) has no counterpart here. */
  const repair = () => {
    throw new HttpError(501, "Repair is not implemented on this unit.", {
      cause: "`pio repair` fixes a Python install's file permissions; this unit runs pioreactor-ts.",
      remediation: "Check ownership of $DOT_PIOREACTOR (pioreactor:www-data, group-writable) by hand.",
    });
  };
  r.post("/system/repair", repair);
  r.patch("/system/repair", repair);

  const power = (action: "reboot" | "shutdown") => (_req: Request, res: Response) => {
    if (locks.isLocked("power-lock")) return sendLocked(res, "power-lock");
    requirePi(action === "reboot" ? "reboot" : "shut down");
    const leaderDelay = action === "reboot" && ctx.isLeader ? LEADER_REBOOT_DELAY_MS : 0;
    const work = locks.hold("power-lock", async () => {
      if (action === "reboot") locks.rateLimit("power-actions", POWER_RATE_LIMIT_MS);
      if (leaderDelay > 0) await ctx.clock.sleep(leaderDelay);
      log.log("DEBUG", action === "reboot" ? "Rebooting now" : "Shutting down now");
      return action === "reboot" ? runCommand("sudo", ["reboot"]) : runCommand("sudo", ["shutdown", "-h", "now"]);
    });
    res.status(202).json(ctx.tasks.submit(work));
  };
  for (const action of ["reboot", "shutdown"] as const) {
    r.post(`/system/${action}`, power(action));
    r.patch(`/system/${action}`, power(action));
  }

  r.get("/system/utc_clock", (_req, res) => {
    res.json({ status: "success", clock_time: isoMillis(ctx.clock.now()) });
  });

  /** The leader sets its clock from the body; a worker re-syncs from the leader through chrony. */
  const setClock = (req: Request, res: Response) => {
    if (locks.isLocked("clock-lock")) return sendLocked(res, "clock-lock");
    if (ctx.isLeader) {
      const { utc_clock_time } = decodeBody<{ utc_clock_time: string }>(req, {
        fields: { utc_clock_time: { type: "str", required: true } },
        forbidUnknown: true,
      });
      if (!isIsoTimestamp(utc_clock_time)) {
        throw badRequest("Invalid utc_clock_time format. Use ISO 8601.", {
          cause: `Unable to parse '${utc_clock_time}' as ISO 8601.`,
          remediation: "Use an ISO 8601 timestamp, e.g. 2025-01-31T12:34:56Z.",
        });
      }
      requirePi("set the clock");
      return res.status(202).json(ctx.tasks.submit(locks.hold("clock-lock", () => runCommand("sudo", ["date", "-s", utc_clock_time]))));
    }
    requirePi("sync the clock");
    const sync = locks.hold("clock-lock", async () => {
      if (ctx.testing) return true;
      await system.run("sudo", ["systemctl", "stop", "chrony"]);
      await system.run("sudo", ["chronyd", "-q"]);
      return runCommand("sudo", ["systemctl", "start", "chrony"]);
    });
    res.status(202).json(ctx.tasks.submit(sync));
  };
  r.post("/system/utc_clock", setClock);
  r.patch("/system/utc_clock", setClock);

  /**
   * `pio update app …` in its own systemd unit, so the update outlives a restart of this server
   * (the original's command line, through the SystemPort).
   */
  const update = (req: Request, res: Response) => {
    const target = req.params.target === undefined ? "app" : param(req.params.target);
    if (locks.isLocked("update-lock")) return sendLocked(res, "update-lock");
    if (target !== "app") throw notFound("Invalid target", { cause: `Unknown update target '${target}'.`, remediation: "Use /unit_api/system/update/app." });
    const body = decodeBody<{ args?: string[]; options?: Record<string, unknown>; env?: Record<string, string> }>(req, {
      fields: { args: { type: "array", items: "str" }, options: { type: "object" }, env: { type: "object", values: "str" } },
    });
    const args = updateAppArgs(body.args ?? [], body.options ?? {});
    requirePi("update the software");
    const command = [
      "systemd-run",
      `--unit=pio-update-${ctx.unitName}-${randomBytes(16).toString("hex")}`,
      "--collect",
      "--property=User=pioreactor",
      "--property=WorkingDirectory=/home/pioreactor",
      "--property=EnvironmentFile=/etc/pioreactor.env",
      "pio",
      "update",
      "app",
      ...args,
    ];
    res.status(202).json(ctx.tasks.submit(locks.hold("update-lock", () => runCommand("sudo", command))));
  };
  r.post("/system/update", update);
  r.patch("/system/update", update);
  r.post("/system/update/:target", update);
  r.patch("/system/update/:target", update);

  return r;
}
