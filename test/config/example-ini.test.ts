import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { IniDocument } from "../../src/config/ini";
import { readIniFile } from "../../src/config/ini-file";
import { LayeredConfig } from "../../src/config/layered";

const OUR_EXAMPLE = path.join(__dirname, "../../config/config.example.ini");
const OUR_UNIT_EXAMPLE = path.join(__dirname, "../../config/unit_config.example.ini");
const MIRROR = "/work/.mirror/Pioreactor+pioreactor/repo";
const MIRROR_PATH = "packaging/shared-assets/pioreactor/config.example.ini";

/** The original's example, read from the local read-only mirror at test time; absent on a fresh machine. */
function originalExample(): string | undefined {
  if (!fs.existsSync(MIRROR)) return undefined;
  try {
    return execFileSync("git", ["-C", MIRROR, "show", `HEAD:${MIRROR_PATH}`], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return undefined;
  }
}

function ownView(doc: IniDocument): [string, [string, string | null][]][] {
  const config = LayeredConfig.fromLayers([{ source: "global", document: doc }], { derived: false });
  return config.sections().map((s) => [s, config.entries(s)!]);
}

test("our config.example.ini reads and writes back byte for byte", () => {
  const text = fs.readFileSync(OUR_EXAMPLE, "utf8");
  const doc = readIniFile(OUR_EXAMPLE)!;
  expect(doc.toString()).toBe(text);
  // Spot checks of the spec's defaults (§4.3).
  expect(doc.getRaw("PWM", "1")).toBe("stirring");
  expect(doc.getRaw("leds", "B")).toBe("");
  expect(doc.getRaw("stirring.config", "enable_dodging_od")).toBe("False");
  expect(doc.getRaw("od_reading.config", "local_ac_hz")).toBeUndefined();
  expect(doc.getRaw("storage", "number_of_backup_replicates_to_workers")).toBe("2");
});

test("our unit_config.example.ini has no keys and round-trips", () => {
  const text = fs.readFileSync(OUR_UNIT_EXAMPLE, "utf8");
  const doc = IniDocument.parse(text);
  expect(doc.toString()).toBe(text);
  expect(doc.sections()).toEqual([]);
});

const original = originalExample();
const withMirror = original === undefined ? test.skip : test;

withMirror("the original's config.example.ini round-trips byte for byte and has exactly our sections, keys and values", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pio-example-"));
  try {
    const file = path.join(dir, "config.ini");
    fs.writeFileSync(file, original!);
    const theirs = readIniFile(file)!;
    expect(theirs.toString()).toBe(original);
    expect(ownView(readIniFile(OUR_EXAMPLE)!)).toEqual(ownView(theirs));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
