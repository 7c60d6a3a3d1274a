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

/** The exit code an error ends a command with, and the line it prints (none for commander's, which print their own). */
export function exitOutcome(e: unknown): { code: number; line?: string } {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version") return { code: EXIT_OK };
    if (USAGE_CODES.has(e.code)) return { code: EXIT_USAGE };
    return { code: e.exitCode || EXIT_FAILURE };
  }
  if (e instanceof CliError) return { code: e.exitCode, line: `${e.name === "CliError" ? "Error: " : ""}${e.message}` };
  const err = e as Error;
  return { code: EXIT_FAILURE, line: `Error: ${err?.message ?? String(e)}` };
}

export function exitCodeFor(e: unknown): number {
  const { code, line } = exitOutcome(e);
  if (line !== undefined) process.stderr.write(`${line}\n`);
  const err = e as Error;
  if (!(e instanceof CommanderError) && !(e instanceof CliError) && process.env.DEBUG && err?.stack) process.stderr.write(`${err.stack}\n`);
  return code;
}

/** `pio jobs list | head` closes the pipe early; that is not an error. */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}
