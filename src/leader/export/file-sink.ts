/**
 * A ZIP archive written to `<dir>/.<name>.tmp` and renamed onto `<name>` only when complete, so
 * an interrupted export never leaves a truncated archive under the requested name.
 */
import fs from "node:fs";
import path from "node:path";
import type { ByteSink } from "./zip-writer";

export class AtomicFileSink implements ByteSink {
  readonly tmpPath: string;
  private fd: number | undefined;

  constructor(readonly finalPath: string) {
    this.tmpPath = path.join(path.dirname(finalPath), `.${path.basename(finalPath)}.tmp`);
    fs.mkdirSync(path.dirname(finalPath), { recursive: true });
    fs.rmSync(this.tmpPath, { force: true });
    this.fd = fs.openSync(this.tmpPath, "w", 0o644);
  }

  write(bytes: Buffer): void {
    if (this.fd === undefined) throw new Error("the export file is already closed");
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(this.fd, bytes, written);
  }

  commit(): void {
    this.close();
    fs.renameSync(this.tmpPath, this.finalPath);
  }

  discard(): void {
    this.close();
    fs.rmSync(this.tmpPath, { force: true });
  }

  private close(): void {
    if (this.fd === undefined) return;
    fs.fsyncSync(this.fd);
    fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
