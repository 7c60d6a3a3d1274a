/**
 * Runs a commander program with the original click CLI's exit-code contract: 0 ok, 1 failure or
 * "Aborted!", 2 usage errors (unknown command or option, missing argument). User mistakes print a
 * one-line message, never a stack trace.
 */
import { type Command, CommanderError } from "commander";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit";

const USAGE_CODES = new Set([
  "commander.unknownCommand",
  "commander.unknownOption",
  "commander.missingArgument",
  "commander.optionMissingArgument",
  "commander.missingMandatoryOptionValue",
  "commander.invalidArgument",
  "commander.excessArguments",
  "commander.conflictingOption",
]);

/** Applies the exit-code contract to a program and every subcommand. */
export function configureExitBehaviour(program: Command): void {
  const apply = (cmd: Command) => {
    cmd.exitOverride();
    cmd.configureOutput({ outputError: (str, write) => write(str) });
    for (const sub of cmd.commands) apply(sub);
  };
  apply(program);
}

export async function runProgram(program: Command, argv: string[]): Promise<number> {
  configureExitBehaviour(program);
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (e) {
    return exitCodeFor(e);
  }
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version") return EXIT_OK;
    if (USAGE_CODES.has(e.code)) return EXIT_USAGE;
    return e.exitCode || EXIT_FAILURE;
  }
  if (e instanceof CliError) {
    process.stderr.write(`${e.name === "CliError" ? "Error: " : ""}${e.message}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  process.stderr.write(`Error: ${err?.message ?? String(e)}\n`);
  if (process.env.DEBUG && err?.stack) process.stderr.write(`${err.stack}\n`);
  return EXIT_FAILURE;
}

/** `pio jobs list | head` closes the pipe early; that is not an error. */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}
