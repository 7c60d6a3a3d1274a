/**
 * `startServer`: listens with the express app on `[ui] port` and, when this process runs the
 * embedded broker, serves MQTT over WebSocket at `/mqtt` on the same port (the UI connects to
 * `ws://<host>:<broker_ws_port>/mqtt`; set `broker_ws_port` to the UI port to use it).
 */
import http from "node:http";
import type { Express } from "express";
import type { EmbeddedBroker } from "../../pubsub/broker";

export interface StartServerOptions {
  port: number;
  host?: string;
  broker?: Pick<EmbeddedBroker, "attachToHttpServer">;
}

export interface RunningServer {
  server: http.Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

export function startServer(app: Express, opts: StartServerOptions): Promise<RunningServer> {
  const server = http.createServer(app);
  const detach = opts.broker?.attachToHttpServer(server, "/mqtt");
  const sockets = new Set<import("node:net").Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => {
      server.removeListener("error", reject);
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : opts.port;
      const shownHost = !opts.host || opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host;
      resolve({
        server,
        port,
        url: `http://${shownHost}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            detach?.();
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
