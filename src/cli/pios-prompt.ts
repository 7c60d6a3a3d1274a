/**
 * The `Y/n` confirmation of `pios` commands. As the original, only "Y" (any case) confirms. With
 * no terminal to ask on and no `-y`, refuse at once with a message instead of waiting for input
 * that cannot come (the original fails with an EOFError traceback).
 */
import { AbortError, CliError } from "./exit";

export interface PromptPort {
  /** Whether a person can answer (stdin is a terminal). */
  interactive: boolean;
  ask(question: string): Promise<string>;
}

export async function confirmOrAbort(prompt: PromptPort, yes: boolean, question: string): Promise<void> {
  if (yes) return;
  if (!prompt.interactive) {
    throw new CliError("Confirmation needed, but stdin is not a terminal. Re-run with -y/--yes to proceed without asking.");
  }
  const answer = await prompt.ask(question);
  if (answer.trim().toUpperCase() !== "Y") throw new AbortError();
}

/** The real prompt on stdin/stdout. */
export function terminalPrompt(stdin: NodeJS.ReadStream, stdout: NodeJS.WriteStream): PromptPort {
  return {
    interactive: Boolean(stdin.isTTY),
    ask: async (question) => {
      const readline = require("node:readline/promises") as typeof import("node:readline/promises");
      const rl = readline.createInterface({ input: stdin, output: stdout });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}

/** Python's repr of a tuple of unit names, as the original's prompts print them. */
export function pyTuple(units: string[]): string {
  const items = units.map((u) => `'${u}'`);
  return items.length === 1 ? `(${items[0]},)` : `(${items.join(", ")})`;
}
