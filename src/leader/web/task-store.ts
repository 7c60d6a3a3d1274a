/**
 * Queued operations and their results, the part of Huey the API contract shows: a handler submits
 * work and answers 202 `TaskAccepted`; clients poll `/unit_api/task_results/<id>` on the same host.
 * Results are kept (bounded, oldest dropped first) so repeated polls work.
 */
import { randomUUID } from "node:crypto";

export type TaskOutcome =
  | { status: "pending" }
  | { status: "running" }
  | { status: "succeeded"; result: unknown }
  | { status: "failed"; error: string; cause: string; remediation: string };

export interface TaskAccepted {
  unit: string;
  task_id: string;
  result_url_path: string;
  status: "accepted";
}

export function resultUrlPath(taskId: string): string {
  return `/unit_api/task_results/${taskId}`;
}

/** `Exc('msg')` / `Error: msg` → `msg`, as the original unwraps exception texts. */
function errorText(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const wrapped = /^[A-Za-z_][\w.]*\((['"])([\s\S]*)\1\)$/.exec(raw.trim());
  return (wrapped ? wrapped[2] : raw).trim() || "Task failed.";
}

export class TaskStore {
  private readonly outcomes = new Map<string, TaskOutcome>();

  constructor(
    private readonly unitName: string,
    private readonly newId: () => string = randomUUID,
    private readonly capacity = 2000,
  ) {}

  /** Starts `work` now and returns the 202 body pointing at its result. */
  submit(work: () => Promise<unknown>): TaskAccepted {
    const id = this.newId();
    // "pending" until it ends: the original reports "running" only for a task blocked on a lock.
    this.remember(id, { status: "pending" });
    void (async () => {
      try {
        this.remember(id, { status: "succeeded", result: await work() });
      } catch (err) {
        this.remember(id, { status: "failed", error: errorText(err), cause: "Task failed with an exception.", remediation: "Check logs and retry." });
      }
    })();
    return { unit: this.unitName, task_id: id, result_url_path: resultUrlPath(id), status: "accepted" };
  }

  /** Unknown ids read as pending, as in the original (a result may simply not be stored yet). */
  outcome(id: string): TaskOutcome {
    return this.outcomes.get(id) ?? { status: "pending" };
  }

  /** Resolves once the task has finished (tests and in-process callers). */
  async settled(id: string, pollMs = 5): Promise<TaskOutcome> {
    for (;;) {
      const o = this.outcome(id);
      if (o.status === "succeeded" || o.status === "failed") return o;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  private remember(id: string, outcome: TaskOutcome): void {
    this.outcomes.delete(id);
    this.outcomes.set(id, outcome);
    while (this.outcomes.size > this.capacity) {
      const oldest = this.outcomes.keys().next().value;
      if (oldest === undefined) break;
      this.outcomes.delete(oldest);
    }
  }
}
