/**
 * Tells which hosted job an uncaught error came from. Each job is started inside its own async
 * context, which Node carries into every timer, socket callback and promise the job creates; an
 * error that escapes all of them (a throw in a raw `setTimeout`, an unhandled rejection) still
 * knows its job, so only that job is stopped and the daemon lives on.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** Where uncaught errors come from: the process in `pio serve`, something smaller in tests. */
export interface UncaughtErrorSource {
  onUncaught(listener: (error: unknown) => void): () => void;
}

export const processUncaughtErrors: UncaughtErrorSource = {
  onUncaught(listener) {
    const onException = (e: unknown) => listener(e);
    const onRejection = (e: unknown) => listener(e);
    process.on("uncaughtException", onException);
    process.on("unhandledRejection", onRejection);
    return () => {
      process.off("uncaughtException", onException);
      process.off("unhandledRejection", onRejection);
    };
  },
};

export class FaultIsolation<K> {
  private readonly storage = new AsyncLocalStorage<K>();

  /** Runs `fn` (and everything it schedules) as owned by `owner`. */
  within<T>(owner: K, fn: () => T): T {
    return this.storage.run(owner, fn);
  }

  /** Runs `fn` as owned by nobody: shared resources must not carry the first job's identity. */
  outside<T>(fn: () => T): T {
    return this.storage.exit(fn);
  }

  /** The owner of the code running now (inside an uncaught-error listener: of the failed callback). */
  currentOwner(): K | undefined {
    return this.storage.getStore();
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
}
