/**
 * `/unit_api/plugins/*`: this unit's installed plugins, and installing or uninstalling one (a task
 * under the original's plugins-lock whose result is a bool). `$DOT_PIOREACTOR/DISALLOW_UI_INSTALLS`
 * refuses both with 403 before anything is validated or run.
 */
import fs from "node:fs";
import path from "node:path";
import { type Request, type Response, Router } from "express";
import { UNIVERSAL_EXPERIMENT } from "../../../pubsub/topics";
import type { WebContext } from "../deps";
import { badRequest, forbidden, notFound } from "../http-errors";
import { cacheFor, param, sendText } from "../http-util";
import { isValidPluginName, npmPluginManager, type PluginManager } from "../plugin-manager";
import { decodeBody } from "../request-body";
import { isValidUnixFilename, resolveInside } from "../safe-files";
import { processSystemPort } from "../system-port";
import { sendLocked, TaskLocks } from "../task-locks";

export function refuseIfUiInstallsDisallowed(dotPioreactor: string): void {
  if (fs.existsSync(path.join(dotPioreactor, "DISALLOW_UI_INSTALLS"))) {
    throw forbidden("DISALLOW_UI_INSTALLS is present", {
      cause: "Plugin installs are disabled on this unit.",
      remediation: "Remove DISALLOW_UI_INSTALLS or install via SSH.",
    });
  }
}

interface ArgsOptions {
  args?: string[];
  options?: Record<string, unknown>;
  env?: Record<string, unknown>;
}

/** The original's `ArgsOptionsEnvs` (unknown keys ignored). */
export function decodeArgsOptions(req: Request): ArgsOptions {
  return decodeBody<ArgsOptions>(req, {
    fields: { args: { type: "array", items: "str" }, options: { type: "object" }, env: { type: "object" }, config_overrides: { type: "array" } },
  });
}

function requirePluginName(name: string): string {
  if (!isValidPluginName(name)) {
    throw badRequest(`Invalid plugin name: ${name}`, {
      cause: "A plugin name is an npm package name (optionally @scope/ and @version), or a drop-in file's name without .js.",
      remediation: "Provide a plugin name such as pioreactor-plugin-example.",
    });
  }
  return name;
}

export function unitPluginRoutes(ctx: WebContext): Router {
  const r = Router();
  const manager: PluginManager = ctx.plugins ?? npmPluginManager({ dotPioreactor: ctx.dotPioreactor, system: ctx.system ?? processSystemPort() });
  const locks = new TaskLocks(() => ctx.clock.now());
  const log = ctx.serverLog.child("plugins", UNIVERSAL_EXPERIMENT);

  r.get("/plugins/installed", async (_req, res) => {
    cacheFor(res).json(await manager.installed());
  });

  /** A drop-in plugin's source (workers fetch the leader's copies this way). */
  r.get("/plugins/installed/:filename", (req, res) => {
    const file = param(req.params.filename);
    if (!isValidUnixFilename(file) || !/\.(?:js|cjs)$/.test(file)) {
      throw notFound("must provide a .js file", { cause: "Requested plugin filename is not a .js or .cjs file.", remediation: "Request a specific plugin file ending with .js." });
    }
    const full = resolveInside(ctx.dotPioreactor, "plugins", file);
    if (!fs.existsSync(full)) throw notFound(`${file} not found`, { cause: "No such plugin file on this unit.", remediation: "List installed plugins and retry." });
    cacheFor(res);
    sendText(res, fs.readFileSync(full, "utf8"));
  });

  const change = (action: "install" | "uninstall") => (req: Request, res: Response) => {
    refuseIfUiInstallsDisallowed(ctx.dotPioreactor);
    const body = decodeArgsOptions(req);
    const args = body.args ?? [];
    if (action === "install" && args.length === 0) {
      throw badRequest("Plugin name is required", { cause: "No plugin name provided in args.", remediation: "Provide a single plugin name in args." });
    }
    if (args.length !== 1) {
      throw badRequest(`${action === "install" ? "Install" : "Uninstall"} one plugin at a time via the API`, {
        cause: `Received ${args.length} plugin arguments.`,
        remediation: "Provide exactly one plugin name in args.",
      });
    }
    const name = requirePluginName(args[0]);
    const source = body.options?.source;
    if (source !== undefined && source !== null && (typeof source !== "string" || source === "" || source.startsWith("-") || source.includes("\0"))) {
      throw badRequest("Invalid plugin source", { cause: "options.source must be a package spec, path or URL (not an option).", remediation: "Provide a path, URL or npm spec." });
    }
    if (locks.isLocked("plugins-lock")) return sendLocked(res, "plugins-lock");
    const work = locks.hold("plugins-lock", async () => {
      const result = action === "install" ? await manager.install(name, typeof source === "string" ? source : undefined) : await manager.uninstall(name);
      if (result.ok) log.info(`${action === "install" ? "Installed" : "Uninstalled"} plugin ${name}.`);
      else log.error(`Could not ${action} plugin ${name}: ${result.detail ?? "unknown error"}`);
      return result.ok;
    });
    res.status(202).json(ctx.tasks.submit(work));
  };
  for (const action of ["install", "uninstall"] as const) {
    r.post(`/plugins/${action}`, change(action));
    r.patch(`/plugins/${action}`, change(action));
  }

  return r;
}
