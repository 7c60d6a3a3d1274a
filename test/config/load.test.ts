import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadConfig, loadConfigFiles } from "../../src/config/load";
import { resolveConfigPath } from "../../src/config/paths";
import { ConfigError } from "../../src/config/types";

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-load-"));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

describe("resolveConfigPath", () => {
  test("GLOBAL_CONFIG / LOCAL_CONFIG win, relative to cwd", () => {
    const env = { GLOBAL_CONFIG: "g.ini", LOCAL_CONFIG: "/abs/l.ini", DOT_PIOREACTOR: "/dot", TESTING: "1" };
    expect(resolveConfigPath("global", env, "/work")).toEqual({ kind: "global", path: "/work/g.ini", rule: "$GLOBAL_CONFIG" });
    expect(resolveConfigPath("local", env, "/work").path).toBe("/abs/l.ini");
  });

  test("then $DOT_PIOREACTOR, then ./.pioreactor under TESTING, then the default home", () => {
    expect(resolveConfigPath("global", { DOT_PIOREACTOR: "/dot", TESTING: "1" }, "/w").path).toBe("/dot/config.ini");
    expect(resolveConfigPath("local", { TESTING: "1" }, "/w").path).toBe("/w/.pioreactor/unit_config.ini");
    expect(resolveConfigPath("global", {}, "/w").path).toBe("/home/pioreactor/.pioreactor/config.ini");
  });

  test("empty variables count as unset", () => {
    expect(resolveConfigPath("global", { GLOBAL_CONFIG: "", DOT_PIOREACTOR: "" }, "/w").path).toBe(
      "/home/pioreactor/.pioreactor/config.ini",
    );
  });
});

describe("loadConfig", () => {
  test("reads config.ini then unit_config.ini from $DOT_PIOREACTOR", () => {
    write("dot/config.ini", "[leds]\nA=IR\nB=\n[cluster.topology]\nleader_hostname=lead\nleader_address=lead.local\n");
    write("dot/unit_config.ini", "[leds]\nB=white\n");
    const config = loadConfig({ env: { DOT_PIOREACTOR: "dot" }, cwd: dir });
    expect(config.get("leds", "B")).toBe("white");
    expect(config.get("leds_reverse", "white")).toBe("B");
    expect(config.files()).toEqual([
      { source: "global", file: path.join(dir, "dot/config.ini") },
      { source: "local", file: path.join(dir, "dot/unit_config.ini") },
    ]);
  });

  test("a missing unit_config.ini is fine", () => {
    write(".pioreactor/config.ini", "[a]\nx=1\n");
    const loaded = loadConfigFiles({ env: { TESTING: "1" }, cwd: dir });
    expect(loaded.local.document).toBeUndefined();
    expect(loaded.config.get("a", "x")).toBe("1");
  });

  test("a missing config.ini says where it looked and how to create one", () => {
    const attempt = () => loadConfig({ env: { DOT_PIOREACTOR: path.join(dir, "nowhere") }, cwd: dir });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(`Configuration file ${path.join(dir, "nowhere", "config.ini")} is missing (chosen by $DOT_PIOREACTOR/config.ini).`);
    expect(attempt).toThrow("Lookup order: $GLOBAL_CONFIG (full path), then $DOT_PIOREACTOR/config.ini, then ./.pioreactor/config.ini when TESTING=1");
    expect(attempt).toThrow("cp config/config.example.ini");
  });

  test("a malformed unit_config.ini is reported with its path and line", () => {
    write("config.ini", "[a]\nx=1\n");
    const local = write("unit_config.ini", "x=2\n");
    const env = { GLOBAL_CONFIG: path.join(dir, "config.ini"), LOCAL_CONFIG: local };
    expect(() => loadConfig({ env, cwd: dir })).toThrow(`${local}:1: "x=2" comes before any [section] header`);
  });

  test("a file that is not UTF-8 is a clear error", () => {
    const file = path.join(dir, "config.ini");
    fs.writeFileSync(file, Buffer.from([0x5b, 0x61, 0x5d, 0x0a, 0x78, 0x3d, 0xff, 0x0a]));
    expect(() => loadConfig({ env: { GLOBAL_CONFIG: file }, cwd: dir })).toThrow(`${file}: is not valid UTF-8 text`);
  });

  test("several configurations can be loaded side by side", () => {
    write("one/config.ini", "[a]\nx=1\n");
    write("two/config.ini", "[a]\nx=2\n");
    const one = loadConfig({ env: { DOT_PIOREACTOR: "one" }, cwd: dir });
    const two = loadConfig({ env: { DOT_PIOREACTOR: "two" }, cwd: dir });
    expect([one.get("a", "x"), two.get("a", "x")]).toEqual(["1", "2"]);
  });
});
