import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { crc32 } from "../../src/leader/export/crc32";
import { readZip } from "../../src/leader/export/zip-reader";
import { type ByteSink, ZipWriter } from "../../src/leader/export/zip-writer";

class MemorySink implements ByteSink {
  chunks: Buffer[] = [];
  write(bytes: Buffer): void {
    this.chunks.push(Buffer.from(bytes));
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const hasUnzip = spawnSync("unzip", ["-v"]).status === 0;

describe("crc32", () => {
  it("matches the standard check value and continues incrementally", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
    const whole = crc32(Buffer.from("hello world"));
    expect(crc32(Buffer.from(" world"), crc32(Buffer.from("hello")))).toBe(whole);
  });
});

describe("ZipWriter", () => {
  const fixedDate = () => new Date(2026, 6, 2, 13, 45, 30);

  async function sample(): Promise<Buffer> {
    const sink = new MemorySink();
    const zip = new ZipWriter(sink, fixedDate);
    await zip.addDirectory("od_readings");
    await zip.addFile("od_readings/schema.json", '{"a": 1}');
    const entry = await zip.openEntry("od_readings/big.csv", { method: "deflate", level: 1 });
    for (let i = 0; i < 5000; i++) await entry.write(`row,${i},${"x".repeat(i % 50)}\r\n`);
    await entry.close();
    await zip.addFile("stored.txt", Buffer.from("stored bytes"), { method: "store" });
    await zip.addFile("empty.txt", "");
    await zip.addFile("ünïcode.txt", "名前");
    await zip.finish();
    return sink.bytes;
  }

  it("round-trips stored, deflated, empty and unicode-named entries through our reader", async () => {
    const entries = readZip(await sample());
    expect(entries.map((e) => e.name)).toEqual(["od_readings/", "od_readings/schema.json", "od_readings/big.csv", "stored.txt", "empty.txt", "ünïcode.txt"]);
    expect(entries[0].isDirectory).toBe(true);
    expect(entries[0].mode).toBe(0o755);
    expect(entries[1].data.toString()).toBe('{"a": 1}');
    const csv = entries[2].data.toString().split("\r\n");
    expect(csv).toHaveLength(5001);
    expect(csv[4999]).toBe(`row,4999,${"x".repeat(4999 % 50)}`);
    expect(entries[3].method).toBe(0);
    expect(entries[3].data.toString()).toBe("stored bytes");
    expect(entries[4].data.length).toBe(0);
    expect(entries[5].data.toString()).toBe("名前");
  });

  it("compresses repetitive text", async () => {
    const archive = await sample();
    const rawCsvBytes = Array.from({ length: 5000 }, (_, i) => `row,${i},${"x".repeat(i % 50)}\r\n`).join("").length;
    expect(archive.length).toBeLessThan(rawCsvBytes / 3);
    // The deflate stream inside is standard raw deflate.
    expect(zlib.inflateRawSync(zlib.deflateRawSync(Buffer.from("x"))).toString()).toBe("x");
  });

  (hasUnzip ? it : it.skip)("passes `unzip -t` and extracts with the system unzip", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zip-test-"));
    try {
      const file = path.join(dir, "a.zip");
      fs.writeFileSync(file, await sample());
      const test = execFileSync("unzip", ["-t", file]).toString();
      expect(test).toMatch(/No errors detected/);
      execFileSync("unzip", ["-q", file, "-d", path.join(dir, "out")]);
      expect(fs.readFileSync(path.join(dir, "out", "stored.txt"), "utf8")).toBe("stored bytes");
      const listing = execFileSync("unzip", ["-l", file]).toString();
      expect(listing).toMatch(/(2026-07-02|07-02-2026) 13:45/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses overlapping entries and writes after finish", async () => {
    const zip = new ZipWriter(new MemorySink());
    const first = await zip.openEntry("a");
    await expect(zip.openEntry("b")).rejects.toThrow(/close the previous ZIP entry/);
    await first.close();
    await zip.finish();
    await expect(zip.openEntry("c")).rejects.toThrow(/already finished/);
  });
});
