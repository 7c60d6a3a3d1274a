/** `GET /api/workers/discover` (mDNS, answered by a responder on loopback) and `POST /api/workers/setup` (`pio workers add` through the SystemPort). */
import dgram from "node:dgram";
import { browseWorkers, encodeResponse, RECORD_TYPES } from "../../../src/leader/cluster/mdns";
import { type Harness, startHarness } from "./harness";
import { type RecordingSystem, recordingSystem } from "./recording-system";

describe("worker discovery and setup", () => {
  let h: Harness;
  let sys: RecordingSystem;
  let responder: dgram.Socket;
  beforeAll(async () => {
    responder = dgram.createSocket("udp4");
    responder.on("message", (_msg, rinfo) => {
      const T = RECORD_TYPES;
      const records = ["worker1", "worker2"].flatMap((w, i) => [
        { name: "_pio-worker._tcp.local", type: T.PTR, data: `${w}._pio-worker._tcp.local` },
        { name: `${w}._pio-worker._tcp.local`, type: T.SRV, data: `${w}.local` },
        { name: `${w}.local`, type: T.A, data: `192.168.1.${21 + i}` },
      ]);
      responder.send(encodeResponse(records), rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => responder.bind(0, "127.0.0.1", r));
    sys = recordingSystem(true);
    h = await startHarness({
      system: sys,
      pioExecutable: "/opt/pio",
      discoverWorkers: async () => {
        const found: Array<{ hostname: string; ipv4Address: string }> = [];
        await browseWorkers({
          createSocket: () => dgram.createSocket("udp4"),
          target: { address: "127.0.0.1", port: responder.address().port },
          quietMs: 200,
          onWorker: (w) => found.push(w),
        });
        return found;
      },
    });
    await h.request("PUT", "/api/workers", { pioreactor_unit: "worker1" });
  });
  afterAll(async () => {
    responder.close();
    await h.close();
  });
  beforeEach(() => {
    sys.commands.length = 0;
  });

  test("discover lists the units answering mDNS that are not in the inventory yet", async () => {
    const r = await h.request("GET", "/api/workers/discover");
    expect(r.status).toBe(200);
    expect(r.json).toEqual([{ pioreactor_unit: "worker2" }]);
  });

  test("setup runs `pio workers add` and answers when it is done", async () => {
    const r = await h.request("POST", "/api/workers/setup", { name: "worker2", version: "1.5", model: "pioreactor_40ml", ipv4_address: " 192.168.1.22 " });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ msg: "Worker worker2 added successfully." });
    expect(sys.commands).toEqual([["/opt/pio", "workers", "add", "worker2", "-v", "1.5", "-m", "pioreactor_40ml", "--address", "192.168.1.22"]]);
  });

  test("a failing `pio workers add` is a 404 with its last output line as the cause", async () => {
    sys.exitCode = 1;
    const r = await h.request("POST", "/api/workers/setup", { name: "worker3", version: "1.5", model: "pioreactor_40ml" });
    sys.exitCode = 0;
    expect(r.status).toBe(404);
    expect(r.json).toEqual({
      error: "Failed to add worker worker3.",
      status: 404,
      cause: "it failed",
      remediation: "Check the Pioreactor logs for the full worker setup command output.",
    });
  });

  test.each([
    [{ name: "localhost", version: "1.5", model: "m" }, "Invalid worker name"],
    [{ name: "10.0.0.1", version: "1.5", model: "m" }, "Invalid worker name"],
    [{ name: "w4", version: "1.5", model: "m", ipv4_address: "fe80::1" }, "Invalid IPv4 address"],
    [{ name: "w4", version: "--help", model: "m" }, "Invalid version"],
    [{ name: "w4", version: "1.5" }, "Invalid request body."],
  ])("setup %j → 400 %s, nothing run", async (body, error) => {
    const r = await h.request("POST", "/api/workers/setup", body);
    expect(r.status).toBe(400);
    expect(r.json.error).toBe(error);
    expect(sys.commands).toEqual([]);
  });
});
