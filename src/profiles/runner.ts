/**
 * Composes a profile run from text: validate (§1.2 step 3), open a journal entry, run the executor;
 * and the other way round, continue an unfinished journaled run after a crash.
 */
import type { Diagnostic } from "./diagnostics";
import { firstErrorText } from "./diagnostics";
import { type ExecutorOptions, type MissedActionPolicy, ProfileExecutor, type RunOutcome } from "./executor";
import type { JournalStore, RunRecord, TaskRecord } from "./journal";
import type { Profile } from "./types";
import { validateProfileText } from "./validate";

/** The profile text did not validate; `diagnostics` carry line:col. */
export class ProfileInvalidError extends Error {
  override readonly name = "ProfileInvalidError";
  constructor(
    message: string,
    readonly diagnostics: Diagnostic[],
  ) {
    super(message);
  }
}

export type RunDeps = Omit<ExecutorOptions, "profile" | "profileFilename" | "journal">;

/** Validate; on the first error log the original's text (`<message> In <path>`) and throw. */
export function validatedProfile(text: string, filename: string, log?: (m: string) => void): Profile {
  const v = validateProfileText(text, { filename });
  if (!v.ok || !v.profile) {
    const errors = v.diagnostics.filter((d) => d.severity === "error");
    const message = firstErrorText(errors) ?? "Profile failed validation.";
    log?.(message);
    throw new ProfileInvalidError(message, errors);
  }
  return v.profile;
}

export interface StartRunOptions extends RunDeps {
  text: string;
  filename: string;
  /** When given, the run is journaled and can be resumed after a crash. */
  store?: JournalStore;
  /** The already validated profile of `text` (saves validating twice). */
  profile?: Profile;
  /** Receives the executor before it starts (for stop requests and progress). */
  onExecutor?(executor: ProfileExecutor, runId: number): void;
}

export async function startProfileRun(o: StartRunOptions): Promise<RunOutcome> {
  const profile = o.profile ?? validatedProfile(o.text, o.filename, (m) => o.logger.error(m));
  const journal = o.store?.createRun({
    profileText: o.text,
    profileFilename: o.filename,
    experiment: o.experiment,
    startMs: o.clock.now(),
    dryRun: Boolean(o.dryRun),
    jobKey: o.jobKey,
  });
  const executor = new ProfileExecutor({ ...o, profile, profileFilename: o.filename, ...(journal ? { journal } : {}) });
  o.onExecutor?.(executor, journal?.runId ?? 0);
  try {
    return await executor.run();
  } catch (err) {
    journal?.finish("failed");
    throw err;
  }
}

export interface ResumeRunOptions extends Omit<RunDeps, "experiment" | "jobKey" | "dryRun"> {
  store: JournalStore;
  /** Defaults to the newest unfinished run. */
  runId?: number;
  policy: MissedActionPolicy;
  onExecutor?(executor: ProfileExecutor, run: RunRecord): void;
}

/** Continue an unfinished run from its journal; no action already sent is sent again. */
export async function resumeProfileRun(o: ResumeRunOptions): Promise<RunOutcome & { run: RunRecord }> {
  const run = o.runId !== undefined ? o.store.run(o.runId) : o.store.unfinishedRuns()[0];
  if (!run) throw new Error(o.runId !== undefined ? `No profile run ${o.runId} in the journal.` : "No unfinished profile run to resume.");
  if (run.status !== "running") throw new Error(`Profile run ${run.runId} already ended (${run.status}).`);
  const profile = validatedProfile(run.profileText, run.profileFilename, (m) => o.logger.error(m));
  const journal = o.store.openRun(run.runId);
  const executor = new ProfileExecutor({
    ...o,
    profile,
    profileFilename: run.profileFilename,
    experiment: run.experiment,
    jobKey: run.jobKey,
    dryRun: run.dryRun,
    journal,
  });
  o.onExecutor?.(executor, run);
  const outcome = await executor.resume(tasksToResume(o.store, run), run.startMs, run.actionCount, o.policy);
  return { ...outcome, run };
}

/**
 * The run's tasks as resume must see them. An `armed` action (see journal.ts) was never sent if the
 * OS has not restarted since the run was last running (the process died, its writes did not); after
 * a reboot its `dispatched` mark may have been lost with the page cache, so it may have been sent.
 */
export function tasksToResume(store: JournalStore, run: RunRecord): TaskRecord[] {
  const sameBoot = run.bootId !== undefined && run.bootId === store.bootId;
  return store.tasks(run.runId).map((r) => (r.status === "armed" ? { ...r, status: sameBoot ? "pending" : "dispatched" } : r));
}
