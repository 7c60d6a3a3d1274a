/**
 * The two halves every broker snapshot needs (retained messages, sessions): replacing a file so a
 * crash leaves either the old or the new version, never half of one; and writing at most every
 * few hundred milliseconds however fast the broker changes, with one last write on close.
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/** Temp file, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const handle = await open(tmp, "w");
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  syncDirectory(path);
}

/** The rename is only durable once the directory entry is on disk (best effort: not every FS allows it). */
function syncDirectory(path: string): void {
  try {
    const fd = openSync(dirname(path), "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // e.g. Windows or some network filesystems
  }
}

/**
 * Runs `save` `delayMs` after the first `changed()` of a burst, one save at a time; changes during
 * a save lead to another. A slow save (a big snapshot: a subscriber away for long has a long queue)
 * stretches the delay to 4× its duration, so snapshotting never takes more than ~20% of the time. `save` logs its own failures; a failed save is retried on the next change
 * (and the caller's final save on close).
 */
export class CoalescedSaver {
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private dirty = false;
  private stopped = false;
  private lastDurationMs = 0;

  constructor(
    private readonly save: () => Promise<void>,
    private readonly delayMs: number,
  ) {}

  changed(): void {
    this.dirty = true;
    if (this.timer || this.stopped || this.saving) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.saveNow();
    }, Math.max(this.delayMs, 4 * this.lastDurationMs));
  }

  private async saveNow(): Promise<void> {
    this.dirty = false;
    let failed = false;
    const started = Date.now();
    this.saving = this.save().catch(() => {
      failed = true;
      this.dirty = true;
    });
    await this.saving;
    this.saving = undefined;
    this.lastDurationMs = Date.now() - started;
    // After a failure, wait for the next change rather than retrying (and logging) in a loop.
    if (this.dirty && !failed) this.changed();
  }

  /** Stops scheduling and waits for a running save; the caller makes the final save. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.saving) await this.saving;
  }
}
