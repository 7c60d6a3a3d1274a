/**
 * Replaces a file so that readers see either the old or the new content, never a half-written
 * one, even if the power goes out mid-write (a real risk on a Raspberry Pi): write a temporary
 * file next to the target, fsync it, rename it over the target, fsync the directory.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

export interface AtomicWriteOptions {
  /** Permission bits for a file that does not exist yet (an existing file keeps its own). */
  defaultMode?: number;
}

export function writeFileAtomicSync(target: string, data: string, options: AtomicWriteOptions = {}): void {
  const dir = path.dirname(target);
  const mode = existingMode(target) ?? options.defaultMode ?? 0o664;
  fs.mkdirSync(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(temp, "wx", mode);
    fs.writeFileSync(fd, data, "utf8");
    // openSync's mode is filtered by the umask; the file must end up with exactly the old mode.
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temp, target);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(temp, { force: true });
    throw e;
  }
  syncDirectory(dir);
}

function existingMode(file: string): number | undefined {
  try {
    return fs.statSync(file).mode & 0o7777;
  } catch {
    return undefined;
  }
}

function syncDirectory(dir: string): void {
  // Makes the rename itself durable. Not every platform lets a directory be opened; that only
  // weakens durability, it does not make the write unsafe, so failures are ignored.
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}
