/**
 * A job's command line (`<job> [args] [--options]`, what follows `pio run`) turned into the parsed
 * input its `JobCommand.run` takes. `pio run` and the jobs `pio serve` hosts in its own process
 * both go through here, so an option is converted, validated and refused with the same text.
 */
import { Command, Option } from "commander";
import { UsageError } from "../cli/exit";
import type { JobCommand, JobOption, JobRunInput } from "./job-command";

export type ParsedJobInput = Omit<JobRunInput, "ctx">;

/** Runs the command (or subcommand) the argv chose with its parsed input. */
export type JobInvocation = (job: JobCommand, input: ParsedJobInput) => Promise<void>;

function addJobOption(cmd: Command, spec: JobOption): void {
  const option = new Option(spec.flags, spec.description);
  if (spec.parse) option.argParser((value: string) => spec.parse!(value));
  if (spec.defaultValue !== undefined) option.default(spec.defaultValue);
  cmd.addOption(option);
}

/** `--key value` pairs commander did not recognise, for automations' free keyword arguments. */
function extraOptions(unknown: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < unknown.length; i++) {
    const token = unknown[i];
    if (!token.startsWith("--")) throw new UsageError(`Got unexpected extra argument (${token})`);
    const [key, inline] = token.slice(2).split("=", 2);
    const value = inline ?? unknown[++i];
    if (value === undefined) throw new UsageError(`Option '--${key}' requires a value.`);
    out[key.replace(/-/g, "_")] = value;
  }
  return out;
}

/** The commander command of one job, with its options and subcommands, calling `invoke` when chosen. */
export function buildJobCommand(job: JobCommand, invoke: JobInvocation): Command {
  const cmd = new Command(job.name).description(job.summary);
  if (job.arguments) cmd.arguments(job.arguments);
  for (const spec of job.options) addJobOption(cmd, spec);
  if (job.allowExtraOptions) cmd.allowUnknownOption(true).allowExcessArguments(true);
  for (const sub of job.subcommands ?? []) cmd.addCommand(buildJobCommand(sub, invoke));
  cmd.action(async (...actionArgs: unknown[]) => {
    const self = actionArgs[actionArgs.length - 1] as Command;
    const options = self.opts();
    const positional = self.args.filter((a) => !a.startsWith("--"));
    const extra = job.allowExtraOptions ? extraOptions(self.args.slice(self.registeredArguments.length)) : {};
    await invoke(job, { options, extra, args: positional });
  });
  return cmd;
}

export interface ParseJobArgvOptions {
  /** Where commander's own error lines (`error: unknown option '--x'`) go; default stderr. */
  writeErr?: (text: string) => void;
}

/**
 * Parses `argv` (the words after the job's name) for `job` and runs what it chose. Commander's
 * errors are thrown (as `CommanderError`), never `process.exit`.
 */
export async function parseAndInvokeJob(job: JobCommand, argv: string[], invoke: JobInvocation, opts: ParseJobArgvOptions = {}): Promise<void> {
  const real = buildJobCommand(job, invoke);
  const quiet = (cmd: Command) => {
    cmd.exitOverride();
    if (opts.writeErr) cmd.configureOutput({ writeErr: opts.writeErr, writeOut: () => {}, outputError: (str, write) => write(str) });
    for (const sub of cmd.commands) quiet(sub);
  };
  quiet(real);
  await real.parseAsync(argv, { from: "user" });
}
