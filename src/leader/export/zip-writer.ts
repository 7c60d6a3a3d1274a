/**
 * A small streaming ZIP writer: entries are written as their bytes arrive (stored or raw
 * deflate via node:zlib), each followed by a data descriptor carrying its CRC-32 and sizes, so
 * neither an entry nor the archive is ever held in memory. The central directory is written by
 * `finish()`. No ZIP64: an archive or entry that would pass 4 GiB is refused with an error
 * rather than silently corrupted.
 */
import zlib from "node:zlib";
import { crc32 } from "./crc32";

/** Where archive bytes go, in order. A file, a socket, or a buffer in tests. */
export interface ByteSink {
  write(bytes: Buffer): Promise<void> | void;
}

export type ZipMethod = "store" | "deflate";

export interface ZipEntryOptions {
  method?: ZipMethod;
  /** zlib level 0–9; the original uses 1 for CSVs (fast) and the default for small JSON. */
  level?: number;
  /** Unix permission bits stored in the external attributes. */
  mode?: number;
  modifiedAt?: Date;
}

/** An entry being written: `write` its bytes in as many pieces as convenient, then `close`. */
export interface ZipEntryWriter {
  write(bytes: Buffer | string): Promise<void>;
  close(): Promise<void>;
}

interface CentralRecord {
  name: Buffer;
  method: number;
  dosTime: number;
  dosDate: number;
  crc: number;
  compressedSize: number;
  size: number;
  offset: number;
  externalAttributes: number;
}

const UINT32_LIMIT = 0xffffffff;
const FLAG_DATA_DESCRIPTOR = 0x0008;
const FLAG_UTF8_NAMES = 0x0800;
const VERSION_NEEDED = 20;
/** "Made by" Unix (3), spec version 2.0, so unzip applies the stored permission bits. */
const VERSION_MADE_BY = (3 << 8) | 20;

/** MS-DOS date and time fields, local time, 2-second resolution, clamped to 1980 as the format requires. */
export function dosDateTime(date: Date): { dosDate: number; dosTime: number } {
  const year = Math.max(1980, date.getFullYear());
  const dosDate = ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate();
  const dosTime = (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2);
  return { dosDate, dosTime };
}

export class ZipWriter {
  private offset = 0;
  private readonly entries: CentralRecord[] = [];
  private open = false;
  private finished = false;

  constructor(
    private readonly sink: ByteSink,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A directory entry (`name/`), which some tools need to show an empty folder with a sane date. */
  async addDirectory(name: string, options: ZipEntryOptions = {}): Promise<void> {
    const entry = await this.openEntry(name.endsWith("/") ? name : `${name}/`, { method: "store", mode: 0o755, ...options, directory: true });
    await entry.close();
  }

  async addFile(name: string, data: Buffer | string, options: ZipEntryOptions = {}): Promise<void> {
    const entry = await this.openEntry(name, options);
    await entry.write(data);
    await entry.close();
  }

  /** Starts an entry; entries are sequential, so the previous one must be closed first. */
  async openEntry(name: string, options: ZipEntryOptions & { directory?: boolean } = {}): Promise<ZipEntryWriter> {
    if (this.finished) throw new Error("the ZIP archive is already finished");
    if (this.open) throw new Error("close the previous ZIP entry before opening another");
    this.open = true;
    const method = options.method === "store" ? 0 : 8;
    const { dosDate, dosTime } = dosDateTime(options.modifiedAt ?? this.now());
    const nameBytes = Buffer.from(name, "utf8");
    const mode = options.mode ?? 0o644;
    const record: CentralRecord = {
      name: nameBytes,
      method,
      dosTime,
      dosDate,
      crc: 0,
      compressedSize: 0,
      size: 0,
      offset: this.offset,
      // Unix type and mode in the high half; the MS-DOS directory bit in the low byte.
      externalAttributes: ((((options.directory ? 0o040000 : 0o100000) | mode) << 16) | (options.directory ? 0x10 : 0)) >>> 0,
    };
    const header = Buffer.alloc(30);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(VERSION_NEEDED, 4);
    header.writeUInt16LE(FLAG_DATA_DESCRIPTOR | FLAG_UTF8_NAMES, 6);
    header.writeUInt16LE(method, 8);
    header.writeUInt16LE(dosTime, 10);
    header.writeUInt16LE(dosDate, 12);
    // CRC and sizes are zero here: they follow the data in the descriptor.
    header.writeUInt16LE(nameBytes.length, 26);
    header.writeUInt16LE(0, 28);
    await this.emit(Buffer.concat([header, nameBytes]));

    const deflater = method === 8 ? zlib.createDeflateRaw({ level: options.level ?? zlib.constants.Z_DEFAULT_COMPRESSION }) : undefined;
    let pendingWrites: Promise<void> = Promise.resolve();
    let failure: Error | undefined;
    if (deflater) {
      deflater.on("data", (chunk: Buffer) => {
        record.compressedSize += chunk.length;
        pendingWrites = pendingWrites.then(() => this.emit(chunk)).catch((e: Error) => {
          failure = e;
        });
      });
    }

    const write = async (data: Buffer | string) => {
      if (failure) throw failure;
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      if (bytes.length === 0) return;
      record.crc = crc32(bytes, record.crc);
      record.size += bytes.length;
      if (record.size > UINT32_LIMIT) throw new Error(`ZIP entry ${name} is larger than 4 GiB, which this writer does not support`);
      if (!deflater) {
        record.compressedSize += bytes.length;
        await this.emit(bytes);
        return;
      }
      // Honour the deflater's backpressure so a fast producer cannot queue the whole table.
      if (!deflater.write(bytes)) await new Promise<void>((resolve) => deflater.once("drain", resolve));
      await pendingWrites;
    };

    const close = async () => {
      if (deflater) {
        await new Promise<void>((resolve, reject) => {
          deflater.once("end", resolve);
          deflater.once("error", reject);
          deflater.end();
          deflater.resume();
        });
        await pendingWrites;
        if (failure) throw failure;
      }
      const descriptor = Buffer.alloc(16);
      descriptor.writeUInt32LE(0x08074b50, 0);
      descriptor.writeUInt32LE(record.crc, 4);
      descriptor.writeUInt32LE(record.compressedSize, 8);
      descriptor.writeUInt32LE(record.size, 12);
      await this.emit(descriptor);
      this.entries.push(record);
      this.open = false;
    };
    return { write, close };
  }

  /** Writes the central directory and the end record; the archive is complete afterwards. */
  async finish(): Promise<void> {
    if (this.open) throw new Error("close the last ZIP entry before finishing the archive");
    if (this.finished) return;
    if (this.entries.length > 0xffff) throw new Error("more than 65,535 ZIP entries, which this writer does not support");
    const start = this.offset;
    for (const e of this.entries) {
      const h = Buffer.alloc(46);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(VERSION_MADE_BY, 4);
      h.writeUInt16LE(VERSION_NEEDED, 6);
      h.writeUInt16LE(FLAG_DATA_DESCRIPTOR | FLAG_UTF8_NAMES, 8);
      h.writeUInt16LE(e.method, 10);
      h.writeUInt16LE(e.dosTime, 12);
      h.writeUInt16LE(e.dosDate, 14);
      h.writeUInt32LE(e.crc, 16);
      h.writeUInt32LE(e.compressedSize, 20);
      h.writeUInt32LE(e.size, 24);
      h.writeUInt16LE(e.name.length, 28);
      h.writeUInt32LE(e.externalAttributes, 38);
      h.writeUInt32LE(e.offset, 42);
      await this.emit(Buffer.concat([h, e.name]));
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(this.entries.length, 8);
    end.writeUInt16LE(this.entries.length, 10);
    end.writeUInt32LE(this.offset - start, 12);
    end.writeUInt32LE(start, 16);
    await this.emit(end);
    this.finished = true;
  }

  private async emit(bytes: Buffer): Promise<void> {
    if (this.offset + bytes.length > UINT32_LIMIT) throw new Error("the ZIP archive would pass 4 GiB, which this writer does not support");
    this.offset += bytes.length;
    await this.sink.write(bytes);
  }
}
