/**
 * A minimal mDNS browser for Pioreactor workers: one PTR query for `_pio-worker._tcp.local`
 * (the service the original's units announce through avahi) sent to 224.0.0.251:5353 from an
 * ephemeral port, so responders answer by unicast (RFC 6762 §6.7); answers and additional
 * records are read for PTR → SRV (host) → A (IPv4). Replaces the original's `avahi-browse`.
 */
import type { Socket } from "node:dgram";

export const PIO_WORKER_SERVICE = "_pio-worker._tcp.local";
export const MDNS_ADDRESS = "224.0.0.251";
export const MDNS_PORT = 5353;

const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_SRV = 33;

export interface DiscoveredWorker {
  hostname: string;
  ipv4Address: string;
}

export interface DnsRecord {
  name: string;
  type: number;
  /** PTR and SRV: the target name; A: the dotted address. */
  data: string;
}

function encodeName(name: string): Buffer {
  const parts = name.split(".").filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)])), Buffer.from([0])]);
}

/** A standard query (id 0, as mDNS uses) with one PTR question. */
export function ptrQuery(service: string): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(1, 4); // one question
  const question = Buffer.alloc(4);
  question.writeUInt16BE(TYPE_PTR, 0);
  question.writeUInt16BE(1, 2); // class IN
  return Buffer.concat([header, encodeName(service), question]);
}

/** Reads a possibly compressed name at `offset`; returns it and where the field ends. */
function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  let end = -1;
  for (let hops = 0; hops < 64; hops++) {
    const len = msg[at];
    if (len === undefined) throw new Error("truncated DNS name");
    if (len === 0) {
      if (end < 0) end = at + 1;
      return { name: labels.join("."), end };
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = at + 2;
      at = msg.readUInt16BE(at) & 0x3fff;
      continue;
    }
    labels.push(msg.subarray(at + 1, at + 1 + len).toString("utf8"));
    at += 1 + len;
  }
  throw new Error("DNS name compression loop");
}

/** Every answer, authority and additional record of a DNS message (questions skipped). */
export function parseDnsRecords(msg: Buffer): DnsRecord[] {
  const questions = msg.readUInt16BE(4);
  const records = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  let at = 12;
  for (let i = 0; i < questions; i++) at = readName(msg, at).end + 4;
  const out: DnsRecord[] = [];
  for (let i = 0; i < records; i++) {
    const { name, end } = readName(msg, at);
    const type = msg.readUInt16BE(end);
    const length = msg.readUInt16BE(end + 8);
    const rdata = end + 10;
    if (type === TYPE_PTR) out.push({ name, type, data: readName(msg, rdata).name });
    else if (type === TYPE_SRV) out.push({ name, type, data: readName(msg, rdata + 6).name });
    else if (type === TYPE_A && length === 4) out.push({ name, type, data: [...msg.subarray(rdata, rdata + 4)].join(".") });
    at = rdata + length;
  }
  return out;
}

/** Builds a response message (used by tests as a fake responder, and documents the shape we read). */
export function encodeResponse(records: DnsRecord[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0x8400, 2); // response, authoritative
  header.writeUInt16BE(records.length, 6);
  const bodies = records.map((r) => {
    let rdata: Buffer;
    if (r.type === TYPE_A) rdata = Buffer.from(r.data.split(".").map(Number));
    else if (r.type === TYPE_SRV) rdata = Buffer.concat([Buffer.from([0, 0, 0, 0, 0x00, 0x50]), encodeName(r.data)]);
    else rdata = encodeName(r.data);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(r.type, 0);
    fixed.writeUInt16BE(1, 2);
    fixed.writeUInt32BE(120, 4);
    fixed.writeUInt16BE(rdata.length, 8);
    return Buffer.concat([encodeName(r.name), fixed, rdata]);
  });
  return Buffer.concat([header, ...bodies]);
}

export const RECORD_TYPES = { A: TYPE_A, PTR: TYPE_PTR, SRV: TYPE_SRV } as const;

/** Joins PTR → SRV → A across everything heard so far; yields complete workers only. */
export class WorkerAssembler {
  private readonly instances = new Set<string>();
  private readonly hosts = new Map<string, string>();
  private readonly addresses = new Map<string, string>();
  private readonly reported = new Set<string>();

  constructor(private readonly service: string = PIO_WORKER_SERVICE) {}

  add(records: DnsRecord[]): DiscoveredWorker[] {
    for (const r of records) {
      const name = r.name.toLowerCase();
      if (r.type === TYPE_PTR && name === this.service.toLowerCase()) this.instances.add(r.data.toLowerCase());
      else if (r.type === TYPE_SRV) this.hosts.set(name, r.data.toLowerCase());
      else if (r.type === TYPE_A) this.addresses.set(name, r.data);
    }
    const fresh: DiscoveredWorker[] = [];
    for (const instance of this.instances) {
      const host = this.hosts.get(instance);
      const ip = host ? this.addresses.get(host) : undefined;
      if (!host || !ip) continue;
      const hostname = host.replace(/\.local$/, "");
      const key = `${hostname}\t${ip}`;
      if (this.reported.has(key)) continue;
      this.reported.add(key);
      fresh.push({ hostname, ipv4Address: ip });
    }
    return fresh;
  }
}

export interface BrowseOptions {
  /** Create the UDP socket (tests bind to loopback). */
  createSocket: () => Socket;
  /** Where the query goes; default the mDNS group. */
  target?: { address: string; port: number };
  /** Stop after this long without a new worker (the original's `-t`: 1.5 s); undefined: until `signal` aborts. */
  quietMs?: number;
  /** Repeat the query this often while browsing, for units that missed it. */
  requeryMs?: number;
  signal?: AbortSignal;
  onWorker(worker: DiscoveredWorker): void;
}

/** Browses until quiet (or aborted); resolves when done. */
export function browseWorkers(options: BrowseOptions): Promise<void> {
  const target = options.target ?? { address: MDNS_ADDRESS, port: MDNS_PORT };
  const socket = options.createSocket();
  const assembler = new WorkerAssembler();
  const query = ptrQuery(PIO_WORKER_SERVICE);
  return new Promise<void>((resolve, reject) => {
    let quietTimer: NodeJS.Timeout | undefined;
    let requery: NodeJS.Timeout | undefined;
    const finish = (err?: Error) => {
      clearTimeout(quietTimer);
      clearInterval(requery);
      options.signal?.removeEventListener("abort", onAbort);
      socket.close(() => (err ? reject(err) : resolve()));
    };
    const onAbort = () => finish();
    const armQuiet = () => {
      if (options.quietMs === undefined) return;
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => finish(), options.quietMs);
    };
    socket.on("message", (msg) => {
      let records: DnsRecord[];
      try {
        records = parseDnsRecords(msg);
      } catch {
        return; // Someone else's malformed packet: ignore it.
      }
      const fresh = assembler.add(records);
      for (const worker of fresh) options.onWorker(worker);
      if (fresh.length > 0) armQuiet();
    });
    socket.once("error", (e) => finish(e));
    options.signal?.addEventListener("abort", onAbort);
    socket.bind(0, () => {
      const send = () => socket.send(query, target.port, target.address);
      send();
      if (options.requeryMs) requery = setInterval(send, options.requeryMs);
      armQuiet();
    });
  });
}
