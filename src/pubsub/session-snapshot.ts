/**
 * Makes the embedded broker's persistent sessions survive a restart, as Mosquitto's
 * `persistence true` does. aedes keeps them in memory only, so after a restart the leader's
 * `mqtt_to_db_streaming` data session (stable client id, `clean: false`, QoS 1) was gone: whatever
 * units published before the job reconnected and re-subscribed had no subscriber and was dropped.
 *
 * What a session is, in aedes-persistence's memory store, and what we keep of it:
 * - subscriptions by client (a QoS > 0 one also makes the broker queue for the client while it is
 *   offline, so restoring them before the broker listens means nothing published after the
 *   restart is dropped);
 * - the outgoing queue by client: QoS 1/2 messages not yet acknowledged, with the packet id of
 *   those already sent (in flight), and PUBRELs awaiting PUBCOMP;
 * - incoming QoS 2 packets awaiting the publisher's PUBREL (so a resent PUBLISH is not delivered twice);
 * - the will messages of those persistent-session clients, under the broker id that stored them:
 *   aedes publishes the will of a client of a dead broker (ours, before the restart) unless that
 *   client reconnects (under its stable id) within a few minutes. Wills of clean sessions are not
 *   kept: such a client comes back under a new id (a job's id ends in a random suffix), so its old
 *   will would fire minutes after the restart and mark a running job `lost`.
 *
 * How: the memory persistence keeps working as is. We wrap its mutating methods only to learn which
 * clients changed and when; a snapshot then reads the state back through the persistence's own
 * API (so it is what aedes holds, not a parallel model of it) and writes it as JSON atomically,
 * coalesced to one write per `delayMs`, plus a final one on close. On start the file is loaded
 * into the fresh persistence through the same API before any client can connect.
 *
 * The window: a crash (not a clean close) loses at most the last `delayMs` of changes, e.g. QoS 1
 * messages the broker had acknowledged to their publisher but not yet written (aedes answers
 * PUBACK before queueing).
 */
import { readFileSync, renameSync } from "node:fs";
import type { Readable } from "node:stream";
import { CoalescedSaver, writeFileAtomic } from "./snapshot-io";
import type { PubSubLogger } from "./types";

/** A stored packet as aedes-persistence keeps it (aedes-packet fields; MQTT 5 extras kept as given). */
export interface StoredPacket {
  cmd: string;
  brokerId?: string;
  brokerCounter?: number;
  topic?: string;
  payload?: Buffer;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  messageId?: number;
  clientId?: string;
  nl?: boolean;
  properties?: unknown;
  messageExpiry?: number;
}

export interface StoredSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

export interface ClientSession {
  id: string;
  subscriptions: StoredSubscription[];
  outgoing: StoredPacket[];
  incoming: StoredPacket[];
}

export interface SessionsSnapshot {
  /** The broker instance that held these sessions (its wills are published by the next one). */
  brokerId: string | undefined;
  clients: ClientSession[];
  wills: StoredPacket[];
}

interface SessionsFileShape {
  format: "pioreactor-ts broker sessions";
  version: 1;
  broker_id?: string;
  clients: ClientSession[];
  wills: StoredPacket[];
}

const FORMAT = "pioreactor-ts broker sessions";
const EMPTY: SessionsSnapshot = { brokerId: undefined, clients: [], wills: [] };

/** JSON cannot hold bytes: Buffers are written as `{ "$base64": "…" }` and read back as Buffers. */
function bufferReplacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return Buffer.isBuffer(raw) ? { $base64: raw.toString("base64") } : value;
}

function bufferReviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const b64 = (value as { $base64?: unknown }).$base64;
    if (typeof b64 === "string" && Object.keys(value).length === 1) return Buffer.from(b64, "base64");
  }
  return value;
}

function isClientSession(c: unknown): c is ClientSession {
  const s = c as ClientSession;
  return (
    typeof s === "object" &&
    s !== null &&
    typeof s.id === "string" &&
    Array.isArray(s.subscriptions) &&
    Array.isArray(s.outgoing) &&
    Array.isArray(s.incoming)
  );
}

/** The sessions file: read once at start, rewritten whole and atomically. */
export class SessionSnapshotFile {
  constructor(
    readonly path: string,
    private readonly logger: PubSubLogger,
  ) {}

  /**
   * Missing file → no sessions. A file we cannot use is reported and ignored (the broker starts
   * without sessions rather than not at all); an unparsable one is moved aside first, so it is
   * neither lost nor overwritten by the next snapshot.
   */
  load(): SessionsSnapshot {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return EMPTY;
      this.logger.error(`Could not read the MQTT session snapshot ${this.path} (${(err as Error).message}); starting without sessions.`);
      return EMPTY;
    }
    try {
      const parsed = JSON.parse(text, bufferReviver) as SessionsFileShape;
      if (parsed?.format !== FORMAT || parsed.version !== 1) throw new Error("unknown format or version");
      if (!Array.isArray(parsed.clients) || !Array.isArray(parsed.wills)) throw new Error("unknown layout");
      const clients = parsed.clients.filter(isClientSession);
      if (clients.length !== parsed.clients.length) throw new Error("malformed client session");
      return { brokerId: parsed.broker_id, clients, wills: parsed.wills };
    } catch (err) {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      let where = `moved it to ${aside}`;
      try {
        renameSync(this.path, aside);
      } catch (renameErr) {
        where = `could not move it aside (${(renameErr as Error).message})`;
      }
      this.logger.warn(`MQTT session snapshot ${this.path} was unreadable (${(err as Error).message}); ${where} and started without sessions.`);
      return EMPTY;
    }
  }

  serialize(snapshot: SessionsSnapshot): string {
    const shape: SessionsFileShape = {
      format: FORMAT,
      version: 1,
      broker_id: snapshot.brokerId,
      clients: snapshot.clients,
      wills: snapshot.wills,
    };
    return `${JSON.stringify(shape, bufferReplacer)}\n`;
  }
}

type AedesClientLike = { id: string; clean?: boolean };

/**
 * The slice of an aedes persistence (aedes-persistence 11's callback/promise hybrid) we use. Called
 * without a callback every method returns a promise, as aedes 1.x calls them.
 */
export interface SessionPersistence {
  addSubscriptions(client: AedesClientLike, subs: StoredSubscription[]): Promise<unknown>;
  removeSubscriptions(client: AedesClientLike, topics: string[]): Promise<unknown>;
  cleanSubscriptions(client: AedesClientLike): Promise<unknown>;
  subscriptionsByClient(client: AedesClientLike): Promise<StoredSubscription[] | null | undefined>;
  outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<unknown>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket): Promise<unknown>;
  outgoingUpdate(client: AedesClientLike, packet: StoredPacket): Promise<unknown>;
  outgoingClearMessageId(client: AedesClientLike, packet: StoredPacket): Promise<unknown>;
  outgoingStream(client: AedesClientLike): Readable;
  incomingStorePacket(client: AedesClientLike, packet: StoredPacket): Promise<unknown>;
  incomingGetPacket(client: AedesClientLike, packet: { messageId: number }): Promise<StoredPacket>;
  incomingDelPacket(client: AedesClientLike, packet: { messageId?: number }): Promise<unknown>;
  cleanIncoming?(client: AedesClientLike): Promise<unknown>;
  putWill(client: AedesClientLike, packet: StoredPacket): Promise<unknown>;
  delWill(client: AedesClientLike): Promise<unknown>;
  streamWill(brokers?: Record<string, number>): Readable;
}

/** Marks restored queue entries that carry no (brokerId, brokerCounter) of their own, e.g. PUBRELs. */
const RESTORED_BROKER_ID = "pioreactor-ts-restored";

async function readAll<T>(stream: Readable): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item as T);
  return items;
}

const isQos = (q: unknown) => q === 0 || q === 1 || q === 2;

function checkPacket(p: StoredPacket, where: string): void {
  if (p === null || typeof p !== "object") throw new Error(`${where}: not a packet`);
  if (p.cmd === "pubrel") {
    if (typeof p.messageId !== "number") throw new Error(`${where}: PUBREL without a packet id`);
    return;
  }
  if (p.cmd !== undefined && p.cmd !== "publish") throw new Error(`${where}: unexpected ${p.cmd}`);
  if (typeof p.topic !== "string" || p.topic === "") throw new Error(`${where}: no topic`);
  if (p.payload !== undefined && !Buffer.isBuffer(p.payload)) throw new Error(`${where}: payload is not bytes`);
  if (!isQos(p.qos ?? 0)) throw new Error(`${where}: bad QoS`);
}

/** Refuses a session the broker would choke on later (when the client comes back), before any of it is restored. */
function checkSession(session: ClientSession): void {
  for (const s of session.subscriptions) {
    if (typeof s?.topic !== "string" || s.topic === "" || !isQos(s.qos)) throw new Error(`bad subscription ${JSON.stringify(s)}`);
  }
  for (const [i, p] of session.outgoing.entries()) checkPacket(p, `queued message ${i}`);
  for (const [i, p] of session.incoming.entries()) checkPacket(p, `incoming message ${i}`);
}

/** The fields aedes-packet carries, copied so later mutations by aedes do not leak into a snapshot. */
function packetRecord(p: StoredPacket): StoredPacket {
  const r: StoredPacket = { cmd: p.cmd ?? "publish" };
  if (p.brokerId !== undefined) r.brokerId = p.brokerId;
  if (p.brokerCounter !== undefined) r.brokerCounter = p.brokerCounter;
  if (p.topic !== undefined) r.topic = p.topic;
  if (p.payload !== undefined) r.payload = Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload as unknown as string);
  if (p.qos !== undefined) r.qos = p.qos;
  if (p.retain !== undefined) r.retain = p.retain;
  if (p.dup !== undefined) r.dup = p.dup;
  if (p.messageId !== undefined) r.messageId = p.messageId;
  if (p.clientId !== undefined) r.clientId = p.clientId;
  if (p.nl !== undefined) r.nl = p.nl;
  if (p.properties !== undefined) r.properties = p.properties;
  if (p.messageExpiry !== undefined) r.messageExpiry = p.messageExpiry;
  return r;
}

/**
 * Keeps `file` in step with a persistence's sessions. Order of use: `restoreInto` (before the
 * broker accepts clients, after retained messages are replayed so those are not queued again for
 * restored subscribers), then `watch`, then `close` once the broker has stopped.
 */
export class SessionSnapshotter {
  private persistence: SessionPersistence | undefined;
  private brokerId: string | undefined;
  /** Clients that may hold session state (the persistence cannot list them). */
  private readonly clientIds = new Set<string>();
  /** Packet ids of stored incoming QoS 2 packets, by client (likewise not listable). */
  private readonly incomingIds = new Map<string, Set<number>>();
  /** Clients whose will was stored by a clean-session connection (see the module: not kept). */
  private readonly cleanWillClients = new Set<string>();
  /** Clients changed while a snapshot was being read: not forgotten even if they read as empty. */
  private readonly touchedDuringRead = new Set<string>();
  private lastWritten: string | undefined;
  private readonly saver: CoalescedSaver;

  constructor(
    private readonly file: SessionSnapshotFile,
    private readonly logger: PubSubLogger,
    delayMs = 250,
  ) {
    this.saver = new CoalescedSaver(() => this.saveNow(), delayMs);
  }

  /** Loads the file into `persistence`; what cannot be restored is reported and skipped. Returns counts. */
  async restoreInto(persistence: SessionPersistence, brokerId: string): Promise<{ clients: number; queued: number }> {
    const snapshot = this.file.load();
    let clients = 0;
    let queued = 0;
    for (const session of snapshot.clients) {
      try {
        await this.restoreClient(persistence, session);
        clients += 1;
        queued += session.outgoing.length;
      } catch (err) {
        this.logger.warn(`Could not restore the MQTT session of ${session.id}: ${(err as Error).message}`);
      }
    }
    for (const will of snapshot.wills) {
      try {
        if (typeof will?.clientId !== "string" || typeof will.topic !== "string") throw new Error("malformed will");
        const stored = packetRecord(will);
        await persistence.putWill({ id: will.clientId }, stored);
        // putWill stamps the current broker's id; put back the one that stored it, so aedes sees the
        // will of a client of a dead broker and publishes it if that client does not come back.
        // (The memory persistence keeps the object we pass, so this reaches its copy.)
        stored.brokerId = will.brokerId ?? snapshot.brokerId ?? stored.brokerId;
        this.clientIds.add(will.clientId);
      } catch (err) {
        this.logger.warn(`Could not restore a will message: ${(err as Error).message}`);
      }
    }
    if (clients > 0) this.logger.info(`Restored ${clients} MQTT session(s) with ${queued} queued message(s) from ${this.file.path}.`);
    this.persistence = persistence;
    this.brokerId = brokerId;
    return { clients, queued };
  }

  private async restoreClient(p: SessionPersistence, session: ClientSession): Promise<void> {
    checkSession(session);
    const client = { id: session.id };
    this.clientIds.add(session.id);
    if (session.subscriptions.length > 0) await p.addSubscriptions(client, session.subscriptions);
    // outgoingEnqueue drops the packet id (aedes-packet does); outgoingUpdate, which finds a queued
    // packet by (brokerId, brokerCounter), sets it back, so in-flight messages are resent under
    // their own id (the subscriber may already have them: QoS 2 duplicates are then recognised).
    let synthetic = 0;
    for (const packet of session.outgoing) {
      const stored = packetRecord(packet);
      if (stored.brokerId === undefined || stored.brokerCounter === undefined) {
        stored.brokerId = RESTORED_BROKER_ID;
        stored.brokerCounter = ++synthetic;
      }
      await p.outgoingEnqueue({ clientId: session.id }, stored);
      if (stored.messageId !== undefined) await p.outgoingUpdate(client, stored);
    }
    for (const packet of session.incoming) {
      if (typeof packet.messageId !== "number") continue;
      await p.incomingStorePacket(client, packetRecord(packet));
      this.noteIncoming(session.id, packet.messageId, true);
    }
  }

  /** Wraps the persistence's session-changing methods in place so every change schedules a snapshot. */
  watch(p: SessionPersistence): void {
    // A clean session ends with its connection: its churn (acks, QoS 2 handshakes) is no state worth
    // a write, unless the client had a persistent session we hold (a clean connect wipes it).
    const relevant = (client: AedesClientLike | undefined) =>
      client !== undefined && (client.clean !== true || this.clientIds.has(client.id));
    const wrap = <K extends keyof SessionPersistence>(name: K, touched: (args: never[]) => string[]) => {
      const original = (p[name] as (...args: unknown[]) => unknown).bind(p);
      (p as unknown as Record<string, unknown>)[name] = (...args: never[]) => {
        const result = original(...args);
        const ids = touched(args);
        if (ids.length > 0) {
          for (const id of ids) {
            this.clientIds.add(id);
            this.touchedDuringRead.add(id);
          }
          this.saver.changed();
        }
        return result;
      };
    };
    const byClient = (args: never[]) => {
      const client = args[0] as AedesClientLike | undefined;
      return relevant(client) ? [client!.id] : [];
    };
    wrap("addSubscriptions", byClient);
    wrap("removeSubscriptions", byClient);
    wrap("cleanSubscriptions", byClient);
    wrap("outgoingEnqueue", (args) => [(args[0] as { clientId: string }).clientId]);
    wrap("outgoingEnqueueCombi", (args) => (args[0] as { clientId: string }[]).map((s) => s.clientId));
    wrap("outgoingUpdate", byClient);
    wrap("outgoingClearMessageId", byClient);
    wrap("putWill", (args) => {
      const client = args[0] as AedesClientLike;
      if (client.clean === true) this.cleanWillClients.add(client.id);
      else this.cleanWillClients.delete(client.id);
      return byClient(args);
    });
    wrap("delWill", (args) => {
      const id = (args[0] as AedesClientLike | undefined)?.id;
      return id !== undefined && this.clientIds.has(id) ? [id] : [];
    });
    // Forget a clean client once its will is gone (not before: a snapshot read meanwhile must still skip it).
    const delWill = p.delWill.bind(p);
    p.delWill = (client) => {
      const result = delWill(client);
      void Promise.resolve(result).then(
        () => this.cleanWillClients.delete(client.id),
        () => undefined,
      );
      return result;
    };
    wrap("incomingStorePacket", (args) => {
      const ids = byClient(args);
      const messageId = (args[1] as StoredPacket).messageId;
      if (ids.length > 0 && typeof messageId === "number") this.noteIncoming(ids[0], messageId, true);
      return ids;
    });
    wrap("incomingDelPacket", (args) => {
      const ids = byClient(args);
      const messageId = (args[1] as StoredPacket).messageId;
      if (ids.length > 0 && typeof messageId === "number") this.noteIncoming(ids[0], messageId, false);
      return ids;
    });
    if (typeof p.cleanIncoming === "function") {
      wrap("cleanIncoming", (args) => {
        const ids = byClient(args);
        for (const id of ids) this.incomingIds.delete(id);
        return ids;
      });
    }
    this.persistence = p;
  }

  private noteIncoming(clientId: string, messageId: number, present: boolean): void {
    let ids = this.incomingIds.get(clientId);
    if (present) {
      if (!ids) {
        ids = new Set();
        this.incomingIds.set(clientId, ids);
      }
      ids.add(messageId);
    } else ids?.delete(messageId);
  }

  /** Reads every tracked session back from the persistence. */
  async read(): Promise<SessionsSnapshot> {
    const p = this.persistence;
    if (!p) return EMPTY;
    this.touchedDuringRead.clear();
    const clients: ClientSession[] = [];
    for (const id of [...this.clientIds]) {
      const client = { id };
      const subscriptions = (await p.subscriptionsByClient(client)) ?? [];
      const outgoing = (await readAll<StoredPacket>(p.outgoingStream(client))).map(packetRecord);
      const incoming: StoredPacket[] = [];
      for (const messageId of this.incomingIds.get(id) ?? []) {
        const packet = await p.incomingGetPacket(client, { messageId }).catch(() => undefined);
        if (packet) incoming.push(packetRecord({ ...packet, messageId }));
        else this.incomingIds.get(id)?.delete(messageId);
      }
      if (subscriptions.length + outgoing.length + incoming.length > 0) {
        clients.push({ id, subscriptions: subscriptions.map((s) => ({ ...s })), outgoing, incoming });
      } else if (!this.touchedDuringRead.has(id)) {
        this.clientIds.delete(id);
        this.incomingIds.delete(id);
      }
    }
    const wills = (await readAll<StoredPacket>(p.streamWill({})))
      .filter((w) => w.clientId !== undefined && !this.cleanWillClients.has(w.clientId))
      .map(packetRecord);
    for (const will of wills) this.clientIds.add(will.clientId as string);
    return { brokerId: this.brokerId, clients, wills };
  }

  private async saveNow(): Promise<void> {
    try {
      const snapshot = await this.read();
      const text = this.file.serialize(snapshot);
      // Unchanged sessions (a burst that ended where it began) cost no disk write.
      if (text === this.lastWritten) return;
      await writeFileAtomic(this.file.path, text);
      this.lastWritten = text;
    } catch (err) {
      this.logger.error(`Could not save MQTT sessions to ${this.file.path}: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Stops without writing: the broker never served (e.g. its port was taken by another one using this file). */
  abandon(): Promise<void> {
    return this.saver.stop();
  }

  /** Final write (call after the broker stopped). */
  async close(): Promise<void> {
    await this.saver.stop();
    if (!this.persistence) return;
    this.lastWritten = undefined;
    await this.saveNow().catch(() => undefined);
  }
}
