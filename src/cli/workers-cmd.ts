/**
 * `pio workers add|remove|assign|unassign|update-active|update-model|discover|status` (leader
 * only), through the leader's REST API as the original does, so the web server stays the one
 * writer of the inventory (and its side effects: MQTT notices, stopping jobs) happen once.
 */
import type { Command } from "commander";
import type { ClusterHttp, HttpReply } from "../leader/cluster/cluster-http";
import type { DiscoveredWorker } from "../leader/cluster/mdns";
import { AbortError, CliError } from "./exit";

export interface WorkersCommandDeps {
  http(): ClusterHttp;
  /** This unit (the leader). */
  unitName(): string;
  leaderHostname(): string;
  print(line: string): void;
  warn(line: string): void;
  /** Whether a unit answers at `address` (the original pings; we ask its `/unit_api/health`). */
  isReachable(address: string): Promise<boolean>;
  /** The original's worker provisioning (SSH keys, hostname) — absent here; see docs. */
  provisionWorker?(hostname: string, password: string, address: string): Promise<void>;
  /** mDNS browse; `terminate`: stop once no new worker has answered for a while. */
  discover(terminate: boolean, onWorker: (w: DiscoveredWorker) => void): Promise<void>;
  /** `$state` of the unit's monitor job, or undefined if nothing arrives within a second. */
  monitorState(unit: string): Promise<string | undefined>;
  resolveIpv4(address: string): Promise<string | undefined>;
  /** Skips the network check before adding (the original does under TESTING). */
  testing: boolean;
}

async function leaderCall(deps: WorkersCommandDeps, f: (http: ClusterHttp) => Promise<HttpReply>, unreachable: string): Promise<HttpReply> {
  try {
    return await f(deps.http());
  } catch {
    deps.print(unreachable);
    throw new AbortError();
  }
}

function registerAdd(workers: Command, deps: WorkersCommandDeps): void {
  workers
    .command("add")
    .description("add a pioreactor worker")
    .argument("<hostname>")
    .option("-p, --password <password>", "", "raspberry")
    .option("-m, --model-name <name>")
    .option("-v, --model-version <version>")
    .option("-a, --address <address>")
    .action(async (hostname: string, o: { password: string; modelName?: string; modelVersion?: string; address?: string }) => {
      if (hostname.endsWith(".local")) {
        deps.print("Please provide the hostname without the `.local` suffix.");
        throw new AbortError();
      }
      if (hostname === deps.unitName()) {
        deps.print("You cannot add the current leader Pioreactor as a worker this way. Email us at support@pioreactor.com");
        throw new AbortError();
      }
      deps.warn(`Adding new pioreactor ${hostname} to cluster.`);
      if (!deps.testing) {
        const candidates = [...new Set([o.address, deps.http().addressOf(hostname), `${hostname}.local`].filter((c): c is string => Boolean(c)))];
        let found: string | undefined;
        for (const c of candidates) if (!found && (await deps.isReachable(c))) found = c;
        if (!found) {
          throw new CliError(
            `\`${hostname}\` not found on network. Checked: ${candidates.join(", ")}. Check that i) the name is correct, ii) worker is powered on, iii) any WiFi credentials to the network are correct.`,
          );
        }
        await deps.provisionWorker?.(hostname, o.password, found);
      }
      const reply = await leaderCall(
        deps,
        (http) => http.leader("PUT", "/api/workers", { pioreactor_unit: hostname, model_name: o.modelName ?? null, model_version: o.modelVersion ?? null }),
        "Not able to connect to leader's backend.",
      );
      if (!reply.ok) throw new CliError(reply.status >= 500 ? "Server error. Could not complete. See UI logs" : `Did not add worker ${hostname} to backend.`);
      deps.warn(`New pioreactor ${hostname} successfully added to cluster.`);
    });
}

function registerInventoryEdits(workers: Command, deps: WorkersCommandDeps): void {
  workers
    .command("remove")
    .description("remove a pioreactor worker")
    .argument("<worker>")
    .action(async (worker: string) => {
      const reply = await leaderCall(deps, (http) => http.leader("DELETE", `/api/workers/${encodeURIComponent(worker)}`), "Not able to connect to leader's backend.");
      if (!reply.ok) {
        deps.print(reply.status >= 500 ? "Server error. Could not complete. See UI logs." : `Worker ${worker} not present to be removed. Check hostname.`);
        throw new AbortError();
      }
      deps.print(`Removed ${worker} from cluster.`);
    });

  workers
    .command("assign")
    .description("assign a pioreactor worker")
    .argument("<worker>")
    .argument("<experiment>")
    .action(async (worker: string, experiment: string) => {
      const reply = await leaderCall(
        deps,
        (http) => http.leader("PUT", `/api/experiments/${encodeURIComponent(experiment)}/workers`, { pioreactor_unit: worker }),
        "Not able to connect to leader's backend.",
      );
      if (!reply.ok) {
        deps.print(reply.status >= 500 ? "Server error. Could not complete." : "Not valid data. Check hostname or experiment.");
        throw new AbortError();
      }
      deps.print(`Assigned ${worker} to ${experiment}`);
    });

  workers
    .command("unassign")
    .description("unassign a pioreactor worker")
    .argument("<worker>")
    .argument("<experiment>")
    .action(async (worker: string, experiment: string) => {
      const reply = await leaderCall(
        deps,
        (http) => http.leader("DELETE", `/api/experiments/${encodeURIComponent(experiment)}/workers/${encodeURIComponent(worker)}`),
        "Not able to connect to leader's backend.",
      );
      if (!reply.ok) {
        deps.print("Error");
        throw new AbortError();
      }
      deps.print(`Unassigned ${worker} from ${experiment}`);
    });

  workers
    .command("update-active")
    .description("change active of worker")
    .argument("<hostname>")
    .argument("<active>", "0 or 1", (v: string) => {
      if (v !== "0" && v !== "1") throw new (require("commander") as typeof import("commander")).InvalidArgumentError(`'${v}' is not in the range 0<=x<=1.`);
      return Number(v);
    })
    .action(async (hostname: string, active: number) => {
      const reply = await leaderCall(
        deps,
        (http) => http.leader("PUT", `/api/workers/${encodeURIComponent(hostname)}/is_active`, { is_active: active }),
        "Not able to connect to leader's backend.",
      );
      // Ours: the original ignores an error status here and prints success anyway.
      if (!reply.ok) throw new CliError(`Could not update ${hostname}: HTTP ${reply.status}. Is it a registered worker?`);
      deps.print(`Updated ${hostname}'s active to ${active === 1 ? "True" : "False"}`);
    });

  workers
    .command("update-model")
    .description("update worker model metadata")
    .argument("<worker>")
    .requiredOption("-m, --model-name <name>")
    .requiredOption("-v, --model-version <version>")
    .action(async (worker: string, o: { modelName: string; modelVersion: string }) => {
      const reply = await leaderCall(
        deps,
        (http) => http.leader("PUT", `/api/workers/${encodeURIComponent(worker)}/model`, { model_name: o.modelName, model_version: o.modelVersion }),
        "Not able to connect to leader's backend.",
      );
      if (!reply.ok) {
        deps.print(reply.status >= 500 ? "Server error. Could not complete. See UI logs." : "Not valid data. Check model name or version.");
        throw new AbortError();
      }
      deps.print(`Updated ${worker} to ${o.modelName} v${o.modelVersion}.`);
    });
}

const pad = (s: string, n: number) => s.padEnd(n);

async function statusLine(deps: WorkersCommandDeps, worker: { pioreactor_unit: string; is_active: number | boolean }): Promise<string> {
  const unit = worker.pioreactor_unit;
  const http = deps.http();
  const isSelf = unit === deps.unitName();
  const address = isSelf ? "localhost" : http.addressOf(unit);
  const [ip, monitor] = await Promise.all([deps.resolveIpv4(address), deps.monitorState(unit)]);
  let webOk = false;
  try {
    webOk = (await http.unit(unit, "GET", "/unit_api/health", undefined, 2000)).ok;
  } catch {
    webOk = false;
  }
  let state = monitor ?? "unknown";
  if (state === "unknown" && webOk) state = "unknown(mqtt)";
  let version = webOk ? "unknown(api)" : "unknown";
  try {
    const r = await http.unit(unit, "GET", "/unit_api/versions/app", undefined, 2000);
    const v = (r.json as { version?: string } | undefined)?.version;
    if (r.ok && v) version = v;
  } catch {
    // Keep the placeholder: the unit's API did not answer.
  }
  let experiment = "unknown";
  try {
    const r = await http.leader("GET", `/api/workers/${encodeURIComponent(unit)}/experiment`);
    const e = (r.json as { experiment?: string } | undefined)?.experiment;
    if (r.ok && e) experiment = e;
  } catch {
    // Leave it unknown.
  }
  const reachable = webOk || (await deps.isReachable(address));
  return [
    pad(unit, 20),
    pad(unit === deps.leaderHostname() ? "Y" : "", 15),
    pad(ip ?? "unknown", 20),
    pad(state, 15),
    pad(worker.is_active ? "Y" : "N", 15),
    pad(reachable ? "Y" : "N", 14),
    pad(version, 15),
    pad(experiment, 15),
  ].join(" ");
}

function registerDiscoverAndStatus(workers: Command, deps: WorkersCommandDeps): void {
  workers
    .command("discover")
    .description("discover all pioreactor workers on the network")
    .option("-t, --terminate", "Terminate after dumping a more or less complete list")
    .action(async (o: { terminate?: boolean }) => {
      await deps.discover(Boolean(o.terminate), (w) => deps.print(`${w.hostname}\t${w.ipv4Address}`));
    });

  workers
    .command("status")
    .description("report information on the cluster")
    .action(async () => {
      const reply = await leaderCall(deps, (http) => http.leader("GET", "/api/workers"), "Not able to connect to leader's backend.");
      if (!reply.ok) throw new CliError(`Unable to get workers. HTTP ${reply.status}`);
      const rows = reply.json as Array<{ pioreactor_unit: string; is_active: number }>;
      deps.print(
        [pad("Name", 20), pad("Is leader?", 15), pad("IP address", 20), pad("State", 15), pad("Active?", 15), pad("Reachable?", 14), pad("Version", 15), pad("Experiment", 15)].join(" "),
      );
      const lines = await Promise.all(rows.map((w) => statusLine(deps, w)));
      for (const line of lines) deps.print(line);
    });
}

export function registerWorkersCommands(program: Command, deps: WorkersCommandDeps): Command {
  const workers = program.command("workers").description("manage workers");
  registerAdd(workers, deps);
  registerInventoryEdits(workers, deps);
  registerDiscoverAndStatus(workers, deps);
  return workers;
}

/** The real world for `pio workers` on the leader: config from disk, fetch, MQTT, UDP multicast. */
export function realWorkersDeps(env: NodeJS.ProcessEnv, cwd: string, print: (l: string) => void, warn: (l: string) => void): WorkersCommandDeps {
  const { loadConfig } = require("../config/load") as typeof import("../config/load");
  const { leaderHostname, unitName } = require("../config/identity") as typeof import("../config/identity");
  const { isTesting } = require("../config/testing") as typeof import("../config/testing");
  const { ClusterHttp } = require("../leader/cluster/cluster-http") as typeof import("../leader/cluster/cluster-http");
  const { RealClock } = require("../util/clock") as typeof import("../util/clock");
  const config = loadConfig({ env, cwd });
  const http = new ClusterHttp({ config, fetch: (url, init) => fetch(url, init), clock: new RealClock() });
  return {
    http: () => http,
    unitName: () => unitName(env, config),
    leaderHostname: () => leaderHostname(config),
    print,
    warn,
    testing: isTesting(env),
    isReachable: async (address) => {
      const { webBaseUrl } = require("../config/leader-http") as typeof import("../config/leader-http");
      try {
        const r = await fetch(`${webBaseUrl(config, address)}/unit_api/health`, { signal: AbortSignal.timeout(2000) });
        return r.ok;
      } catch {
        return false;
      }
    },
    resolveIpv4: async (address) => {
      const dns = require("node:dns/promises") as typeof import("node:dns/promises");
      try {
        return (await dns.lookup(address, { family: 4 })).address;
      } catch {
        return undefined;
      }
    },
    monitorState: async (unit) => {
      const { connectMqtt, mqttOptionsFromConfig } = require("../pubsub/client") as typeof import("../pubsub/client");
      let client: Awaited<ReturnType<typeof connectMqtt>> | undefined;
      try {
        client = await connectMqtt({ ...mqttOptionsFromConfig(config, env), clientIdBase: "workers-status", firstConnectionTimeoutMs: 2000 });
        let state: string | undefined;
        await client.subscribe(`pioreactor/${unit}/$experiment/monitor/$state`, (m) => {
          state = m.payload.toString();
        });
        for (let i = 0; i < 20 && state === undefined; i++) await new Promise((r) => setTimeout(r, 50));
        return state;
      } catch {
        return undefined;
      } finally {
        await client?.end();
      }
    },
    discover: (terminate, onWorker) => {
      const dgram = require("node:dgram") as typeof import("node:dgram");
      const { browseWorkers } = require("../leader/cluster/mdns") as typeof import("../leader/cluster/mdns");
      const controller = new AbortController();
      process.once("SIGINT", () => controller.abort());
      return browseWorkers({
        createSocket: () => dgram.createSocket({ type: "udp4", reuseAddr: true }),
        quietMs: terminate ? 1500 : undefined,
        requeryMs: terminate ? undefined : 5000,
        signal: controller.signal,
        onWorker,
      });
    },
  };
}
