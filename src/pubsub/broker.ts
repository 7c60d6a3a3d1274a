/**
 * An MQTT broker inside our own process (aedes): TCP for units and `pio`, WebSocket at `/mqtt` for
 * the browser UI, the single `[mqtt]` user enforced, and optionally retained messages that survive
 * a restart. It lets a fresh machine run the whole stack without installing Mosquitto, and gives
 * every test a private broker on a random port.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { Aedes, type AuthenticateError } from "aedes";
import memoryPersistence from "aedes-persistence";
import { createWebSocketStream, WebSocketServer } from "ws";
import { MqttConnectionError } from "./client";
import { acceptPubrecOfUnqueuedMessages, type OutgoingUpdating } from "./pubrec-fix";
import { RetainedSnapshotFile, RetainedSnapshotter } from "./retained-snapshot";
import { type SessionPersistence, SessionSnapshotFile, SessionSnapshotter } from "./session-snapshot";
import { type PubSubLogger, silentPubSubLogger } from "./types";

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 picks a free one (read it back from `port`). Default 1883. */
  port?: number;
  /** Interface to bind; default 127.0.0.1 (pass 0.0.0.0 to serve a cluster). */
  host?: string;
  /** WebSocket listener port; omitted = no WebSocket listener, 0 = a free one. */
  wsPort?: number;
  wsPath?: string;
  /** When set, only this user/password may connect (the `[mqtt]` credentials). */
  username?: string;
  password?: string;
  /** JSON file that keeps retained messages across restarts. */
  persistenceFile?: string;
  /**
   * JSON file that keeps persistent sessions (clean:false clients' subscriptions, their queued and
   * in-flight QoS 1/2 messages, incoming QoS 2 packets, wills) across restarts. Defaults to
   * `<persistenceFile without _retained.json or .json>_sessions.json` next to `persistenceFile`;
   * `false` keeps sessions in memory only.
   */
  sessionsFile?: string | false;
  /** Coalescing delay for snapshot writes. */
  snapshotDelayMs?: number;
  logger?: PubSubLogger;
}

export interface EmbeddedBroker {
  readonly port: number;
  readonly wsPort: number | undefined;
  /** `mqtt://host:port` for clients on this machine. */
  readonly url: string;
  readonly wsUrl: string | undefined;
  /**
   * Serves MQTT-over-WebSocket on another HTTP server's upgrade requests at `path` (default
   * `/mqtt`), e.g. the leader's web server, so the UI needs no second port. Upgrades for other
   * paths are left to that server's other listeners. Returns a function that detaches it.
   */
  attachToHttpServer(server: HttpServer | HttpsServer, path?: string): () => void;
  close(): Promise<void>;
}

const DEFAULT_WS_PATH = "/mqtt";

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Constant-time comparison (hashing first evens out the lengths). */
function sameSecret(given: string | Buffer | undefined, expected: string): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(Buffer.from(given).toString("utf8")), digest(expected));
}

function authError(): AuthenticateError {
  const err = new Error("Bad username or password") as AuthenticateError;
  // 4 = CONNACK "bad user name or password" (the AuthErrorCode const enum is not importable at runtime).
  (err as { returnCode: number }).returnCode = 4;
  return err;
}

function urlHost(host: string): string {
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return shown.includes(":") ? `[${shown}]` : shown;
}

function listen(server: NetServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.removeListener("error", onError);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? "/", "http://localhost").pathname;
}

/** `…/embedded_broker_retained.json` → `…/embedded_broker_sessions.json`. */
export function defaultSessionsFile(persistenceFile: string): string {
  return `${persistenceFile.replace(/(_retained)?\.json$/, "")}_sessions.json`;
}

function disableClusterDedupe(client: unknown): void {
  const c = client as { duplicates?: Record<string, number> };
  if (c.duplicates === undefined) return;
  c.duplicates = new Proxy(Object.create(null) as Record<string, number>, {
    get: () => 0,
    set: () => true,
  });
}

export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const logger = opts.logger ?? silentPubSubLogger;
  const host = opts.host ?? "127.0.0.1";
  const wsPath = opts.wsPath ?? DEFAULT_WS_PATH;

  const persistence = memoryPersistence();
  // Without it a clean:false client subscribing at QoS 2 to a retained topic is disconnected (see the module).
  acceptPubrecOfUnqueuedMessages(persistence as unknown as OutgoingUpdating);
  const snapshotter = opts.persistenceFile
    ? new RetainedSnapshotter(new RetainedSnapshotFile(opts.persistenceFile, logger), logger, opts.snapshotDelayMs)
    : undefined;
  snapshotter?.watch(persistence as unknown as Parameters<RetainedSnapshotter["watch"]>[0]);
  const sessionsFile = opts.sessionsFile ?? (opts.persistenceFile ? defaultSessionsFile(opts.persistenceFile) : false);
  const sessions = sessionsFile ? new SessionSnapshotter(new SessionSnapshotFile(sessionsFile, logger), logger, opts.snapshotDelayMs) : undefined;

  const requiredUser = opts.username;
  const aedes = await Aedes.createBroker({
    persistence,
    authenticate: (client, username, password, done) => {
      if (requiredUser === undefined) return done(null, true);
      if (username === requiredUser && sameSecret(password, opts.password ?? "")) return done(null, true);
      logger.warn(`Refused MQTT client ${client.id}: wrong username or password.`);
      done(authError(), false);
    },
  });
  aedes.on("clientError", (client, err) => logger.debug(`MQTT client ${client.id}: ${err.message}`));
  // aedes drops a message whose broker counter is lower than the last one it sent a client — a
  // guard for broker clusters. On one broker it loses messages: a retained QoS 0 message is stored
  // before it is forwarded, so a QoS 0 message published right after it is sent first and the
  // retained one is then thrown away (the UI missed assignment records this way). We run one
  // broker, so every client's counter table reads 0 and nothing is dropped.
  aedes.on("client", (client) => disableClusterDedupe(client));

  // Replayed before any listener opens, so the first subscriber already sees the old tree.
  for (const r of snapshotter?.initialRecords() ?? []) {
    await new Promise<void>((resolve, reject) =>
      aedes.publish({ cmd: "publish", topic: r.topic, payload: r.payload, qos: r.qos, retain: true, dup: false }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  // After the retained replay (restored subscribers must not get those queued again) and before any
  // listener opens, so a persistent subscriber's subscription exists from the broker's first moment.
  if (sessions) {
    const sessionPersistence = persistence as unknown as SessionPersistence;
    await sessions.restoreInto(sessionPersistence, aedes.id);
    sessions.watch(sessionPersistence);
  }

  // Live connections, destroyed on close so the port is free again at once (tests restart on it).
  const connections = new Set<Duplex>();
  const track = (conn: Duplex) => {
    connections.add(conn);
    conn.on("close", () => connections.delete(conn));
  };

  const tcp = createNetServer((socket: Socket) => {
    track(socket);
    aedes.handle(socket);
  });

  const wss = new WebSocketServer({ noServer: true });
  const upgradeHandlers: { server: HttpServer | HttpsServer; handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }[] = [];
  const makeUpgradeHandler = (path: string, ownServer: boolean) => (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (pathOf(req) !== path) {
      if (ownServer) socket.destroy();
      return;
    }
    track(socket);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on("error", () => ws.terminate());
      aedes.handle(stream, req);
    });
  };
  const attachToHttpServer = (server: HttpServer | HttpsServer, path = DEFAULT_WS_PATH) => {
    const handler = makeUpgradeHandler(path, false);
    server.on("upgrade", handler);
    upgradeHandlers.push({ server, handler });
    return () => {
      server.removeListener("upgrade", handler);
    };
  };

  let wsServer: HttpServer | undefined;
  let port: number;
  let wsPort: number | undefined;
  try {
    port = await listen(tcp, opts.port ?? 1883, host);
    if (opts.wsPort !== undefined) {
      wsServer = createHttpServer((_req, res) => {
        res.writeHead(426, { "content-type": "text/plain" }).end(`MQTT over WebSocket: connect to ${wsPath}\n`);
      });
      wsServer.on("upgrade", makeUpgradeHandler(wsPath, true));
      wsPort = await listen(wsServer, opts.wsPort, host);
    }
  } catch (err) {
    tcp.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    // No final snapshot: another broker may own these files now (ensureBroker lost the port race).
    await Promise.all([snapshotter?.abandon(), sessions?.abandon()]);
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const { server, handler } of upgradeHandlers) server.removeListener("upgrade", handler);
      const stopped = [closeServer(tcp), wsServer ? closeServer(wsServer) : Promise.resolve()];
      // aedes closes its clients (a client that did not disconnect cleanly gets its will published).
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const ws of wss.clients) ws.terminate();
      for (const conn of connections) conn.destroy();
      wss.close();
      await Promise.all(stopped);
      await Promise.all([snapshotter?.close(), sessions?.close()]);
    })();
    return closing;
  };

  const shownHost = urlHost(host);
  logger.info(`Embedded MQTT broker listening on ${host}:${port}${wsPort !== undefined ? ` and ws://${shownHost}:${wsPort}${wsPath}` : ""}.`);
  return {
    port,
    wsPort,
    url: `mqtt://${shownHost}:${port}`,
    wsUrl: wsPort !== undefined ? `ws://${shownHost}:${wsPort}${wsPath}` : undefined,
    attachToHttpServer,
    close,
  };
}

/** True if something accepts TCP connections at host:port within `timeoutMs`. */
export function isPortAnswering(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export interface EnsuredBroker {
  /** Where clients should connect. */
  url: string;
  /** The broker we started, if we had to. */
  embedded: EmbeddedBroker | undefined;
  /** Stops the embedded broker if we started one; otherwise does nothing. */
  close(): Promise<void>;
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"]);

/**
 * Uses the broker at `url` if one answers; otherwise, when `embedded` is allowed and the address is
 * this machine, starts one in-process on that port (`pio run … --embedded-broker`). If another
 * process wins the race for the port, its broker is used.
 */
export async function ensureBroker(
  url: string,
  opts: { embedded: boolean; probeTimeoutMs?: number } & Omit<EmbeddedBrokerOptions, "port" | "host">,
): Promise<EnsuredBroker> {
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const defaultPort = parsed.protocol === "mqtts:" ? 8883 : parsed.protocol.startsWith("ws") ? 80 : 1883;
  const port = parsed.port ? Number(parsed.port) : defaultPort;
  const existing: EnsuredBroker = { url, embedded: undefined, close: async () => {} };
  if (await isPortAnswering(host, port, opts.probeTimeoutMs ?? 1000)) return existing;

  const hint = "Start the cluster's broker (or `pio broker`), or check [mqtt] broker_address and broker_port in config.ini.";
  if (!opts.embedded) throw new MqttConnectionError(`No MQTT broker answers at ${url}.`, url, hint);
  if (parsed.protocol !== "mqtt:" || !LOCAL_HOSTS.has(host)) {
    throw new MqttConnectionError(
      `No MQTT broker answers at ${url}, and an embedded broker can only stand in for a plain mqtt:// address on this machine.`,
      url,
      hint,
    );
  }
  const { probeTimeoutMs: _unused, embedded: _allowed, ...brokerOpts } = opts;
  try {
    const broker = await startEmbeddedBroker({ ...brokerOpts, host: host === "localhost" ? "127.0.0.1" : host, port });
    return { url, embedded: broker, close: () => broker.close() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") return existing;
    throw err;
  }
}
