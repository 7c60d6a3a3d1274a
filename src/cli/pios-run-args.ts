/**
 * The job options `pios run JOB …` forwards, split as the original splits them: `--name value`
 * (value = the next word unless it starts with `--`) or a bare `--flag` (null); anything else is
 * a positional argument. Option names keep their inner dashes (`target-rpm`).
 */

export interface RunPayload {
  options: Record<string, string | null>;
  env: Record<string, string>;
  args: string[];
  config_overrides: string[][];
}

export function parseJobArguments(words: string[]): { args: string[]; options: Record<string, string | null> } {
  const args: string[] = [];
  const options: Record<string, string | null> = {};
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (!word.startsWith("--")) {
      args.push(word);
      continue;
    }
    const name = word.replace(/^-+/, "");
    if (i + 1 < words.length && !words[i + 1].startsWith("--")) {
      options[name] = words[i + 1];
      i++;
    } else {
      options[name] = null;
    }
  }
  return { args, options };
}

/** Key order as the original's msgspec struct encodes it: options, env, args, config_overrides. */
export function runPayload(words: string[], configOverrides: Array<[string, string, string]>): RunPayload {
  const { args, options } = parseJobArguments(words);
  return { options, env: {}, args, config_overrides: configOverrides.map((o) => [...o]) };
}

/**
 * Pulls `--config-override SECTION KEY VALUE` triples out of a `pios run` command line (commander
 * has no three-value options), leaving everything else in place.
 */
export function extractRunConfigOverrides(argv: string[]): { argv: string[]; overrides: Array<[string, string, string]>; error?: string } {
  const runAt = argv.indexOf("run");
  if (runAt < 0) return { argv, overrides: [] };
  const out = argv.slice(0, runAt + 1);
  const overrides: Array<[string, string, string]> = [];
  for (let i = runAt + 1; i < argv.length; i++) {
    if (argv[i] !== "--config-override") {
      out.push(argv[i]);
      continue;
    }
    const triple = argv.slice(i + 1, i + 4);
    if (triple.length < 3) return { argv, overrides, error: "Option '--config-override' requires 3 arguments: <section> <param> <value>." };
    overrides.push([triple[0], triple[1], triple[2]]);
    i += 3;
  }
  return { argv: out, overrides };
}
