import { UsageError } from "./exit";

/**
 * Takes `--config-override SECTION KEY VALUE` triples (click's nargs=3, which commander lacks)
 * out of the arguments that follow `run`, before commander parses them.
 */
export function extractConfigOverrides(argv: string[]): { argv: string[]; overrides: Array<[string, string, string]> } {
  const runAt = argv.indexOf("run");
  if (runAt < 0) return { argv, overrides: [] };
  const out = argv.slice(0, runAt + 1);
  const overrides: Array<[string, string, string]> = [];
  let i = runAt + 1;
  while (i < argv.length && (argv[i] === "--config-override" || argv[i] === "--embedded-broker")) {
    if (argv[i] === "--embedded-broker") {
      out.push(argv[i]);
      i += 1;
      continue;
    }
    const triple = argv.slice(i + 1, i + 4);
    if (triple.length < 3) throw new UsageError("Option '--config-override' requires 3 arguments: <section> <param> <value>.");
    overrides.push([triple[0], triple[1], triple[2]]);
    i += 4;
  }
  return { argv: [...out, ...argv.slice(i)], overrides };
}
