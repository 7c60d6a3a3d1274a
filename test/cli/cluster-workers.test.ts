/**
 * `pio workers` and `pio experiments` against the leader's real web server (harness), and the
 * mDNS browser of `pio workers discover` against a fake responder on loopback.
 */
import dgram from "node:dgram";
import fs from "node:fs";
import path from "node:path";
import { Command } from "commander";
import { registerExperimentsCommands } from "../../src/cli/experiments-cmd";
import { runProgram } from "../../src/cli/main";
import { registerWorkersCommands, type WorkersCommandDeps } from "../../src/cli/workers-cmd";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { ClusterHttp } from "../../src/leader/cluster/cluster-http";
import { browseWorkers, type DiscoveredWorker, encodeResponse, parseDnsRecords, RECORD_TYPES } from "../../src/leader/cluster/mdns";
import { RealClock } from "../../src/util/clock";
import { type Harness, startHarness } from "../leader/web/harness";

describe("pio workers / pio experiments through the leader API", () => {
  let h: Harness;
  let http: ClusterHttp;
  let out: string[];
  let err: string[];

  beforeAll(async () => {
    h = await startHarness();
    const text = fs.readFileSync(path.join(h.dot, "config.ini"), "utf8").replace("port=80", `port=${h.server.port}`);
    http = new ClusterHttp({ config: LayeredConfig.fromDocuments(IniDocument.parse(text)), fetch: (u, i) => fetch(u, i), clock: new RealClock() });
  });
  afterAll(() => h.close());
  beforeEach(() => {
    out = [];
    err = [];
  });

  function pio(...argv: string[]): Promise<number> {
    const program = new Command("pio");
    const deps: WorkersCommandDeps = {
      http: () => http,
      unitName: () => "leader",
      leaderHostname: () => "leader",
      print: (l) => out.push(l),
      warn: (l) => err.push(l),
      testing: true,
      isReachable: async () => false,
      resolveIpv4: async () => undefined,
      monitorState: async (u) => (u === "w1" ? "ready" : undefined),
      discover: async (_t, on) => on({ hostname: "w9", ipv4Address: "10.0.0.9" }),
    };
    registerWorkersCommands(program, deps);
    registerExperimentsCommands(program, { http: () => http, clock: new RealClock(), print: (l) => out.push(l), prompt: { interactive: false, ask: async () => "" } });
    return runProgram(program, ["node", "pio", ...argv]);
  }

  it("experiments create, list [-v], delete -y, with the original's messages", async () => {
    expect(await pio("experiments", "create", "expA")).toBe(0);
    expect(out).toEqual(["Created experiment: expA"]);
    expect(await pio("experiments", "create", "expA")).toBe(1);
    expect(await pio("experiments", "list")).toBe(0);
    expect(out).toContain("expA");
    expect(await pio("experiments", "list", "-v")).toBe(0);
    expect(out.at(-1)).toMatch(/^expA\t\d{4}-\d\d-\d\dT[^\t]+\t$/);
    expect(await pio("experiments", "delete", "expA")).toBe(1); // no terminal, no -y
    expect(await pio("experiments", "delete", "expA", "-y")).toBe(0);
    expect(out.at(-1)).toBe("Deleted experiment: expA");
    expect(await pio("experiments", "delete", "expA", "-y")).toBe(1);
  });

  it("workers add, assign, update-active (works, unlike the original), update-model, unassign, remove", async () => {
    await pio("experiments", "create", "exp1");
    expect(await pio("workers", "add", "w1", "-m", "pioreactor_40ml", "-v", "1.5")).toBe(0);
    expect(await pio("workers", "add", "w1.local")).toBe(1);
    expect(out.at(-1)).toBe("Please provide the hostname without the `.local` suffix.");
    expect(await pio("workers", "add", "leader")).toBe(1);
    expect(await pio("workers", "assign", "w1", "exp1")).toBe(0);
    expect(out.at(-1)).toBe("Assigned w1 to exp1");
    expect(await pio("workers", "update-active", "w1", "0")).toBe(0);
    expect(out.at(-1)).toBe("Updated w1's active to False");
    expect((await h.request("GET", "/api/workers/w1")).json.is_active).toBe(0);
    expect(await pio("workers", "update-active", "w1", "2")).toBe(2);
    expect(await pio("workers", "update-active", "nobody", "1")).toBe(1);
    // The leader server has no PUT /api/workers/<u>/model yet: the CLI reports a 4xx as the original does.
    const modelRoute = (await h.request("PUT", "/api/workers/w1/model", { model_name: "pioreactor_20ml", model_version: "1.0" })).status;
    const code = await pio("workers", "update-model", "w1", "-m", "pioreactor_20ml", "-v", "1.0");
    if (modelRoute < 300) {
      expect(code).toBe(0);
      expect(out.at(-1)).toBe("Updated w1 to pioreactor_20ml v1.0.");
    } else {
      expect(code).toBe(1);
    }
    expect(await pio("workers", "update-model", "w1", "-m", "nope", "-v", "9")).toBe(1);
    expect(out.at(-1)).toBe("Not valid data. Check model name or version.");
    expect(await pio("workers", "status")).toBe(0);
    expect(out.at(-2)).toMatch(/^Name {17}Is leader\? {6}IP address/);
    expect(out.at(-1)).toMatch(/^w1 {19}\s+unknown\s+ready\s+N\s+N\s+unknown\s+exp1/);
    expect(await pio("workers", "unassign", "w1", "exp1")).toBe(0);
    expect(out.at(-1)).toBe("Unassigned w1 from exp1");
    expect(await pio("workers", "remove", "w1")).toBe(0);
    expect(out.at(-1)).toBe("Removed w1 from cluster.");
    expect(await pio("workers", "remove", "w1")).toBe(1);
    expect(out.at(-1)).toBe("Worker w1 not present to be removed. Check hostname.");
  });

  it("discover prints host<TAB>ip", async () => {
    expect(await pio("workers", "discover", "-t")).toBe(0);
    expect(out).toEqual(["w9\t10.0.0.9"]);
  });
});

describe("mDNS worker discovery", () => {
  it("queries PTR _pio-worker._tcp.local and assembles PTR → SRV → A from a responder", async () => {
    const responder = dgram.createSocket("udp4");
    const questions: string[] = [];
    responder.on("message", (msg, rinfo) => {
      // The question name, read back from the query.
      questions.push(msg.subarray(12, msg.length - 4).toString("latin1"));
      const T = RECORD_TYPES;
      const reply = (records: Parameters<typeof encodeResponse>[0]) => responder.send(encodeResponse(records), rinfo.port, rinfo.address);
      reply([
        { name: "_pio-worker._tcp.local", type: T.PTR, data: "worker1._pio-worker._tcp.local" },
        { name: "worker1._pio-worker._tcp.local", type: T.SRV, data: "worker1.local" },
        { name: "worker1.local", type: T.A, data: "192.168.1.21" },
      ]);
      // A second unit whose address arrives in a later packet, and an unrelated service.
      reply([
        { name: "_pio-worker._tcp.local", type: T.PTR, data: "worker2._pio-worker._tcp.local" },
        { name: "worker2._pio-worker._tcp.local", type: T.SRV, data: "worker2.local" },
        { name: "_http._tcp.local", type: T.PTR, data: "printer._http._tcp.local" },
      ]);
      setTimeout(() => reply([{ name: "worker2.local", type: T.A, data: "192.168.1.22" }]), 20);
      responder.send(Buffer.from("garbage"), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => responder.bind(0, "127.0.0.1", r));
    const found: DiscoveredWorker[] = [];
    try {
      await browseWorkers({
        createSocket: () => dgram.createSocket("udp4"),
        target: { address: "127.0.0.1", port: responder.address().port },
        quietMs: 300,
        onWorker: (w) => found.push(w),
      });
    } finally {
      responder.close();
    }
    expect(questions[0]).toContain("_pio-worker");
    expect(found).toEqual([
      { hostname: "worker1", ipv4Address: "192.168.1.21" },
      { hostname: "worker2", ipv4Address: "192.168.1.22" },
    ]);
  });

  it("reads compressed names", () => {
    const msg = encodeResponse([{ name: "a.local", type: RECORD_TYPES.A, data: "1.2.3.4" }]);
    // Append a record whose name is a pointer to offset 12 ("a.local").
    const extra = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 5, 6, 7, 8]);
    const both = Buffer.concat([msg, extra]);
    both.writeUInt16BE(2, 6);
    expect(parseDnsRecords(both)).toEqual([
      { name: "a.local", type: 1, data: "1.2.3.4" },
      { name: "a.local", type: 1, data: "5.6.7.8" },
    ]);
  });
});
