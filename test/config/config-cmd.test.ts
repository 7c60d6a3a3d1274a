import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import { registerConfigCommands } from "../../src/cli/config-cmd";
import { CliError, EXIT_FAILURE, EXIT_USAGE } from "../../src/cli/exit";
import { exitCodeFor } from "../../src/cli/main";

const GLOBAL = "[leds]\nA=IR\nB=\n[cluster.topology]\nleader_hostname=leader\nleader_address=10.0.0.1\n[PWM]\n2=media\n10=heating\n1=stirring\n[flags]\non\n";
const LOCAL = "[leds]\nB=white\n";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-config-cmd-"));
  fs.writeFileSync(path.join(dir, "config.ini"), GLOBAL);
  fs.writeFileSync(path.join(dir, "unit_config.ini"), LOCAL);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

interface RunResult {
  code: number;
  out: string[];
  warnings: string[];
  error?: string;
}

/** Runs `pio <args>` against the temp directory with a fresh program, capturing everything. */
async function pio(args: string[], env: NodeJS.ProcessEnv = { DOT_PIOREACTOR: dir }, hostname = "pio01"): Promise<RunResult> {
  const out: string[] = [];
  const warnings: string[] = [];
  const program = new Command("pio").exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerConfigCommands(program, { env, cwd: dir, hostname: () => hostname, print: (l) => out.push(l), warn: (l) => warnings.push(l) });
  try {
    await program.parseAsync(args, { from: "user" });
    return { code: 0, out, warnings };
  } catch (e) {
    const code = e instanceof CliError ? e.exitCode : exitCodeFor(e);
    return { code, out, warnings, error: (e as Error).message };
  }
}

const read = (name: string) => fs.readFileSync(path.join(dir, name), "utf8");

describe("pio config get", () => {
  test("prints the effective value, derived sections included", async () => {
    expect((await pio(["config", "get", "leds", "B"])).out).toEqual(["white"]);
    expect((await pio(["config", "get", "leds_reverse", "IR"])).out).toEqual(["A"]);
    expect((await pio(["config", "get", "flags", "on"])).out).toEqual([""]);
  });

  test("--shared and --specific read one file only", async () => {
    expect((await pio(["config", "get", "leds", "B", "--shared"])).out).toEqual([""]);
    expect((await pio(["config", "get", "leds", "B", "--specific"])).out).toEqual(["white"]);
    const missing = await pio(["config", "get", "PWM", "1", "--specific"]);
    expect(missing).toMatchObject({ code: EXIT_FAILURE, error: "Section 'PWM' not found in config file." });
  });

  test("unknown section or key exits 1 with the original's wording", async () => {
    expect(await pio(["config", "get", "nope", "x"])).toMatchObject({ code: 1, error: "Section 'nope' not found in effective config." });
    expect(await pio(["config", "get", "leds", "Z"])).toMatchObject({ code: 1, error: "Key 'Z' not found in section 'leds'." });
  });

  test("--shared with --specific is a usage error (exit 2)", async () => {
    const r = await pio(["config", "get", "leds", "B", "--shared", "--specific"]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.error).toBe(
      "Usage: pio config get [options] <section> <key>\nTry 'pio config get --help' for help.\n\nError: Invalid value: Specify at most one of --shared or --specific.",
    );
  });

  test("a missing argument is a usage error too", async () => {
    expect((await pio(["config", "get", "leds"])).code).toBe(EXIT_USAGE);
  });

  test("a missing config.ini exits 1 and says how to create one", async () => {
    const r = await pio(["config", "get", "leds", "A"], { DOT_PIOREACTOR: path.join(dir, "empty") });
    expect(r.code).toBe(1);
    expect(r.error).toMatch(/config\.ini is missing.*\n.*Lookup order.*\n.*\n.*cp config\/config\.example\.ini/);
  });
});

describe("pio config set", () => {
  test("--specific changes exactly one line of unit_config.ini, atomically, keeping the mode", async () => {
    fs.chmodSync(path.join(dir, "unit_config.ini"), 0o660);
    const r = await pio(["config", "set", "leds", "B", "uv_light", "--specific"]);
    expect(r).toMatchObject({ code: 0, out: [] });
    expect(read("unit_config.ini")).toBe("[leds]\nB=uv_light\n");
    expect(fs.statSync(path.join(dir, "unit_config.ini")).mode & 0o777).toBe(0o660);
    expect(fs.readdirSync(dir).sort()).toEqual(["config.ini", "unit_config.ini"]);
    expect((await pio(["config", "get", "leds_reverse", "uv_light"])).out).toEqual(["B"]);
  });

  test("--shared on the leader edits config.ini, one line only", async () => {
    const r = await pio(["config", "set", "PWM", "10", "pump", "--shared"], { DOT_PIOREACTOR: dir }, "leader");
    expect(r.code).toBe(0);
    expect(read("config.ini")).toBe(GLOBAL.replace("10=heating", "10=pump"));
  });

  test("--shared off the leader changes nothing and says why on stderr (exit 0, as the original)", async () => {
    const r = await pio(["config", "set", "PWM", "10", "pump", "--shared"]);
    expect(r.code).toBe(0);
    expect(r.warnings[0]).toMatch(/owned by the leader/);
    expect(read("config.ini")).toBe(GLOBAL);
  });

  test("creates unit_config.ini when it does not exist", async () => {
    fs.rmSync(path.join(dir, "unit_config.ini"));
    expect((await pio(["config", "set", "mqtt", "broker_address", "127.0.0.1", "--specific"])).code).toBe(0);
    expect(read("unit_config.ini")).toBe("[mqtt]\nbroker_address=127.0.0.1\n");
    expect(fs.statSync(path.join(dir, "unit_config.ini")).mode & 0o777).toBe(0o664);
  });

  test("exactly one of --shared/--specific is required (exit 2)", async () => {
    for (const flags of [[], ["--shared", "--specific"]]) {
      const r = await pio(["config", "set", "a", "b", "c", ...flags]);
      expect(r.code).toBe(EXIT_USAGE);
      expect(r.error).toMatch(/Error: Invalid value: Specify exactly one of --shared or --specific\.$/);
    }
  });

  test("a value configparser could not read back is refused, file untouched", async () => {
    const r = await pio(["config", "set", "leds", "B", "50%", "--specific"]);
    expect(r.code).toBe(1);
    expect(r.error).toMatch(/\[leds\] B: invalid interpolation syntax.*%%/);
    expect(read("unit_config.ini")).toBe(LOCAL);
  });
});

describe("pio config show", () => {
  const TEXT = [
    "[PWM]",
    "1=stirring",
    "10=heating",
    "2=media",
    "",
    "[PWM_reverse]",
    "heating=10",
    "media=2",
    "stirring=1",
    "",
    "[cluster.addresses]",
    "leader=10.0.0.1",
    "",
    "[cluster.topology]",
    "leader_address=10.0.0.1",
    "leader_hostname=leader",
    "",
    "[flags]",
    "on",
    "",
    "[leds]",
    "A=IR",
    "B=white",
    "",
    "[leds_reverse]",
    "IR=A",
    "white=B",
  ];

  test("prints every section and key sorted, as the original", async () => {
    expect((await pio(["config", "show"])).out).toEqual(TEXT);
  });

  test("--json is compact JSON with sorted keys (numeric-looking keys too)", async () => {
    expect((await pio(["config", "show", "--json"])).out).toEqual([
      '{"PWM":{"1":"stirring","10":"heating","2":"media"},"PWM_reverse":{"heating":"10","media":"2","stirring":"1"},"cluster.addresses":{"leader":"10.0.0.1"},"cluster.topology":{"leader_address":"10.0.0.1","leader_hostname":"leader"},"flags":{"on":null},"leds":{"A":"IR","B":"white"},"leds_reverse":{"IR":"A","white":"B"}}',
    ]);
  });

  test("--section, --key and --with-source", async () => {
    expect((await pio(["config", "show", "--section", "leds", "--with-source"])).out).toEqual([
      "[leds]",
      "A=IR  # source=global",
      "B=white  # source=local",
    ]);
    expect((await pio(["config", "show", "--section", "leds_reverse", "--key", "IR", "--json", "--with-source"])).out).toEqual([
      '{"leds_reverse":{"IR":{"value":"A","source":"derived"}}}',
    ]);
  });

  test("errors: --key without --section is usage (2), unknown names are failures (1)", async () => {
    const usage = await pio(["config", "show", "--key", "A"]);
    expect(usage.code).toBe(EXIT_USAGE);
    expect(usage.error).toMatch(/Error: Invalid value for '--key': --key requires --section\.$/);
    expect(await pio(["config", "show", "--section", "nope"])).toMatchObject({ code: 1, error: "Section 'nope' not found in effective config." });
    expect(await pio(["config", "show", "--section", "leds", "--key", "Z"])).toMatchObject({ code: 1, error: "Key 'Z' not found in section 'leds'." });
  });

  test("pio config alone prints help and succeeds", async () => {
    const r = await pio(["config"]);
    expect(r.code).toBe(0);
    expect(r.out.join("\n")).toMatch(/Usage: pio config/);
  });
});
