/**
 * The original's Huey locks and rate limits for admin tasks (power-lock, clock-lock, update-lock,
 * plugins-lock, …). A route whose lock is held answers 202 `{status: "running", lock, …}` without a
 * task id, exactly as the original; a rate-limited task fails instead of running.
 */
import type { Response } from "express";

export class TaskLocks {
  private readonly held = new Set<string>();
  private readonly lastRun = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  isLocked(name: string): boolean {
    return this.held.has(name);
  }

  /** Runs `work` holding `name`; the lock is taken at once so a second request sees it. */
  hold<T>(name: string, work: () => Promise<T>): () => Promise<T> {
    this.held.add(name);
    return async () => {
      try {
        return await work();
      } finally {
        this.held.delete(name);
      }
    };
  }

  /** Throws when `key` ran less than `perMs` ago (the original's `rate_limit(..., retry=False)`). */
  rateLimit(key: string, perMs: number): void {
    const now = this.now();
    const last = this.lastRun.get(key);
    if (last !== undefined && now - last < perMs) {
      throw new Error(`Rate limit exceeded for ${key}: at most one every ${perMs / 1000} s.`);
    }
    this.lastRun.set(key, now);
  }
}

/** The 202 a locked route answers (no task id; the leader's fan-out counts it as success). */
export function sendLocked(res: Response, lock: string): void {
  res.status(202).json({ status: "running", lock, retry_after_s: 1, remediation: "Wait for the running operation to finish, then retry." });
}
