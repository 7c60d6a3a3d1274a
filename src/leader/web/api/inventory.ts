/**
 * Finding and provisioning new workers from the Inventory page: `GET /api/workers/discover` (mDNS
 * browse, minus the units already in the inventory) and `POST /api/workers/setup`, which runs
 * `pio workers add <name> -v <version> -m <model> [--address <ip>]` through the SystemPort and
 * answers when it has finished (up to 90 s), as the original does.
 */
import { isIP } from "node:net";
import { Router } from "express";
import { allWorkers } from "../cluster";
import type { WebContext } from "../deps";
import { badRequest, notFound } from "../http-errors";
import { decodeBody } from "../request-body";
import { lastOutputLine, processSystemPort } from "../system-port";
import { sendLocked, TaskLocks } from "../task-locks";
import { unitNameCanBePersisted } from "./workers";

const SETUP_TIMEOUT_MS = 90_000;
/** The original stops browsing 3 s after the last new host. */
const DISCOVERY_QUIET_MS = 3_000;

async function browseNetwork(): Promise<Array<{ hostname: string; ipv4Address: string }>> {
  const dgram = require("node:dgram") as typeof import("node:dgram");
  const { browseWorkers } = require("../../cluster/mdns") as typeof import("../../cluster/mdns");
  const found: Array<{ hostname: string; ipv4Address: string }> = [];
  await browseWorkers({ createSocket: () => dgram.createSocket({ type: "udp4", reuseAddr: true }), quietMs: DISCOVERY_QUIET_MS, onWorker: (w) => found.push(w) });
  return found;
}

export function inventoryRoutes(ctx: WebContext): Router {
  const r = Router();
  const locks = new TaskLocks(() => ctx.clock.now());
  const system = ctx.system ?? processSystemPort();

  r.get("/workers/discover", async (_req, res) => {
    const found = await (ctx.discoverWorkers ?? browseNetwork)();
    const existing = new Set(await allWorkers(ctx.leaderDb()));
    const hosts = [...new Set(found.map((w) => w.hostname))].filter((h) => !existing.has(h));
    res.json(hosts.map((h) => ({ pioreactor_unit: h })));
  });

  r.post("/workers/setup", async (req, res) => {
    const body = decodeBody<{ name: string; version: string; model: string; ipv4_address?: string | null }>(req, {
      fields: {
        name: { type: "str", required: true },
        version: { type: "str", required: true },
        model: { type: "str", required: true },
        ipv4_address: { type: "str", nullable: true },
      },
      forbidUnknown: true,
    });
    if (!unitNameCanBePersisted(body.name)) {
      throw badRequest("Invalid worker name", {
        cause: "Worker names must be hostnames, not raw addresses or localhost.",
        remediation: "Use the Pioreactor hostname without a .local suffix.",
      });
    }
    const address = (body.ipv4_address ?? "").trim();
    if (address && isIP(address) !== 4) throw badRequest("Invalid IPv4 address", { cause: `'${address}' is not an IPv4 address.` });
    for (const [field, value] of [
      ["version", body.version],
      ["model", body.model],
    ] as const) {
      if (!/^[A-Za-z0-9][\w.-]*$/.test(value)) throw badRequest(`Invalid ${field}`, { cause: `'${value}' is not a valid ${field}.`, remediation: `Choose a ${field} from the models list.` });
    }
    if (locks.isLocked("inventory-lock")) return sendLocked(res, "inventory-lock");
    const args = ["workers", "add", body.name, "-v", body.version, "-m", body.model, ...(address ? ["--address", address] : [])];
    const result = await locks.hold("inventory-lock", () => system.run(ctx.pioExecutable ?? "pio", args, { timeoutMs: SETUP_TIMEOUT_MS }))();
    if (result.exitCode !== 0) {
      throw notFound(`Failed to add worker ${body.name}.`, {
        cause: lastOutputLine(result) || `pio workers add exited with code ${result.exitCode}.`,
        remediation: "Check the Pioreactor logs for the full worker setup command output.",
      });
    }
    res.json({ msg: `Worker ${body.name} added successfully.` });
  });

  return r;
}
