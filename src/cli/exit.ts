/**
 * Exit codes as the original's click CLI: 0 success, 1 failure (including "Aborted!"), 2 usage
 * error. A user mistake is a `CliError`: its message is printed without a stack trace.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** click's `Abort`: prints `Aborted!` and exits 1. */
export class AbortError extends CliError {
  constructor() {
    super("Aborted!", EXIT_FAILURE);
    this.name = "AbortError";
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
  }
}
