/**
 * A real HTTP server on loopback that plays the leader (`/api`) and the units (`/unit_api`) for a
 * profile runner in another process, answering as the original does (capture 11) and recording
 * every request in arrival order.
 *
 * Each unit listens on its own loopback address (127.0.0.2, 127.0.0.3, …) on the leader's port, as
 * in the capture, because `[ui] port` is one port for the whole cluster: `/unit_api` requests carry
 * no unit name, so the address they arrive on says which unit they were sent to.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  /** `leader` or the unit whose address received it. */
  host: string;
  method: string;
  path: string;
  body: unknown;
  atMs: number;
}

export interface RecordingClusterOptions {
  experiment: string;
  units: string[];
  /** Requests for which this returns true are recorded but never answered (the connection stays open). */
  hold?(request: RecordedRequest): boolean;
}

export class RecordingClusterServer {
  private constructor(
    readonly requests: RecordedRequest[],
    readonly port: number,
    private readonly servers: http.Server[],
    private readonly addresses: Map<string, string>,
  ) {}

  static async start(o: RecordingClusterOptions): Promise<RecordingClusterServer> {
    const hostByAddress = new Map<string, string>([["127.0.0.1", "leader"]]);
    for (const [i, u] of o.units.entries()) hostByAddress.set(`127.0.0.${i + 2}`, u);
    const requests: RecordedRequest[] = [];
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      let raw = "";
      req.on("data", (chunk) => {
        raw += chunk;
      });
      req.on("end", () => {
        const host = hostByAddress.get(req.socket.localAddress ?? "") ?? "unknown";
        const recorded: RecordedRequest = {
          host,
          method: req.method ?? "GET",
          path: req.url ?? "/",
          body: raw === "" ? undefined : JSON.parse(raw),
          atMs: Date.now(),
        };
        requests.push(recorded);
        if (o.hold?.(recorded)) return;
        const [status, body] = answer(recorded, o);
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
      });
    };
    const servers: http.Server[] = [];
    let port = 0;
    for (const address of hostByAddress.keys()) {
      const server = http.createServer(handler);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, address, () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      servers.push(server);
    }
    return new RecordingClusterServer(requests, port, servers, new Map([...hostByAddress].map(([a, h]) => [h, a])));
  }

  /** The loopback address a unit (or `leader`) listens on, for `[cluster.addresses]`. */
  addressOf(host: string): string {
    const a = this.addresses.get(host);
    if (!a) throw new Error(`no address for ${host}`);
    return a;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.closeAllConnections();
            s.close(() => resolve());
          }),
      ),
    );
  }
}

type Route = [method: string, path: RegExp, answer: (m: RegExpExecArray, r: RecordedRequest, o: RecordingClusterOptions) => [number, unknown]];

/** The original's answers (capture 11, web-api spec) to the requests a profile runner makes. */
const ROUTES: Route[] = [
  ["GET", /^\/api\/workers\/([^/]+)\/experiment$/, (m, _r, o) => (o.units.includes(m[1]) ? [200, { experiment: o.experiment }] : [404, { error: "not assigned", status: 404 }])],
  ["GET", /^\/api\/workers\/([^/]+)$/, (m) => [200, { pioreactor_unit: m[1], is_active: 1, model_name: "pioreactor_40ml", model_version: "1.5" }]],
  ["GET", /^\/api\/experiments\/([^/]+)\/workers$/, (_m, _r, o) => [200, o.units.map((u) => ({ pioreactor_unit: u, is_active: 1, experiment: o.experiment }))]],
  ["GET", /^\/unit_api\/jobs\/running\/([^/]+)$/, (m, r, o) => [200, [{ job_name: m[1], unit: r.host, experiment: o.experiment, is_running: 1 }]]],
  [
    "PATCH",
    /^\/unit_api\/jobs\/run\/job_name\/[^/]+$/,
    (_m, r) => {
      const id = `task-${r.host}-${r.atMs}`;
      return [202, { unit: r.host, task_id: id, result_url_path: `/unit_api/task_results/${id}`, status: "accepted" }];
    },
  ],
  ["GET", /^\/unit_api\/task_results\/([^/]+)$/, (m, r) => [200, { task_id: m[1], result_url_path: r.path, status: "succeeded", result: { ok: true } }]],
  ["PATCH", /^\//, () => [202, { status: "accepted" }]],
  ["POST", /^\//, () => [202, { status: "accepted" }]],
];

function answer(r: RecordedRequest, o: RecordingClusterOptions): [number, unknown] {
  for (const [method, pattern, reply] of ROUTES) {
    const m = r.method === method ? pattern.exec(r.path) : null;
    if (m) return reply(m, r, o);
  }
  return [404, { error: `no route ${r.method} ${r.path}`, status: 404 }];
}
