import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import { ConfigError } from "../../src/config/types";

const GLOBAL = `[PWM]
1=stirring
2=media
3=alt_media
4=waste
5=heating

[leds]
A=IR
B=
C=
D=

[od_config.photodiode_channel]
1=REF
2=90
3=
4=

[stirring.config]
initial_target_rpm=500
pwm_hz=200
use_rpm=1
enable_dodging_od=False

[cluster.topology]
leader_hostname=leader
leader_address=leader.local

[cluster.addresses]
pio01=10.42.0.2

[mqtt]
broker_address=leader.local
`;

const LOCAL = `[leds]
B=white_light

[cluster.topology]
leader_address=127.0.0.1

[extra]
only_here=1
`;

/** `local` null = no unit_config.ini. */
function layered(global = GLOBAL, local: string | null = LOCAL): LayeredConfig {
  return LayeredConfig.fromDocuments(
    IniDocument.parse(global, { file: "config.ini" }),
    local === null ? undefined : IniDocument.parse(local, { file: "unit_config.ini" }),
  );
}

describe("merge", () => {
  test("unit_config.ini overrides config.ini key by key", () => {
    const c = layered();
    expect(c.get("leds", "B")).toBe("white_light");
    expect(c.get("leds", "A")).toBe("IR");
    expect(c.get("cluster.topology", "leader_address")).toBe("127.0.0.1");
    expect(c.get("cluster.topology", "leader_hostname")).toBe("leader");
    expect(c.get("extra", "only_here")).toBe("1");
  });

  test("source says where each value comes from", () => {
    const c = layered();
    expect(c.source("leds", "B")).toBe("local");
    expect(c.source("leds", "A")).toBe("global");
    expect(c.source("leds_reverse", "IR")).toBe("derived");
    expect(c.source("leds", "nope")).toBeUndefined();
  });

  test("interpolation works across the two files within a section", () => {
    const c = layered("[paths]\nroot=/data\n", "[paths]\ndb=%(root)s/db.sqlite\n");
    expect(c.get("paths", "db")).toBe("/data/db.sqlite");
  });

  test("sections keep the order they first appear in", () => {
    expect(layered().sections().slice(0, 3)).toEqual(["PWM", "leds", "od_config.photodiode_channel"]);
  });
});

describe("derived sections", () => {
  test("leds_reverse and PWM_reverse invert the labelled channels, skipping empty ones", () => {
    const c = layered();
    expect(c.section("leds_reverse")).toEqual({ IR: "A", white_light: "B" });
    expect(c.section("PWM_reverse")).toEqual({ stirring: "1", media: "2", alt_media: "3", waste: "4", heating: "5" });
  });

  test("two channels with the same label: the later one wins", () => {
    expect(layered("[leds]\nA=IR\nB=IR\n", null).get("leds_reverse", "IR")).toBe("B");
  });

  test("empty photodiode channels are dropped", () => {
    expect(layered().section("od_config.photodiode_channel")).toEqual({ 1: "REF", 2: "90" });
  });

  test("the leader's address joins [cluster.addresses]", () => {
    const c = layered();
    expect(c.get("cluster.addresses", "leader")).toBe("127.0.0.1");
    expect(c.get("cluster.addresses", "pio01")).toBe("10.42.0.2");
  });

  test("no leader entry while leader_hostname or leader_address is blank, but the section exists", () => {
    const c = layered("[cluster.topology]\nleader_hostname=\nleader_address=\n", null);
    expect(c.section("cluster.addresses")).toEqual({});
  });

  test("derived values are returned literally even when they contain %", () => {
    const c = layered("[leds]\nA=100%% IR\n", null);
    expect(c.get("leds_reverse", "100% IR")).toBe("A");
  });
});

describe("overrides (pio run --config-override)", () => {
  test("withOverrides returns a new config and leaves the original alone", () => {
    const base = layered();
    const over = base.withOverrides([
      ["stirring.config", "pwm_hz", "100"],
      ["new.section", "k", "v"],
    ]);
    expect(over.getInt("stirring.config", "pwm_hz")).toBe(100);
    expect(over.get("new.section", "k")).toBe("v");
    expect(over.source("stirring.config", "pwm_hz")).toBe("override");
    expect(base.getInt("stirring.config", "pwm_hz")).toBe(200);
    expect(base.hasSection("new.section")).toBe(false);
  });

  test("derived sections follow overridden values", () => {
    const over = layered().withOverrides([["leds", "C", "uv"]]);
    expect(over.get("leds_reverse", "uv")).toBe("C");
  });

  test("an override with a lone % is refused up front", () => {
    expect(() => layered().withOverrides([["a", "b", "5%"]])).toThrow(/--config-override \[a\] b: invalid interpolation syntax/);
  });
});

describe("typed getters", () => {
  const c = layered(
    "[n]\nf=0.25\ne=1e-3\ninf=-inf\ni= 12 \nu=1_000\nbadint=1.0\nb1=Yes\nb0=off\nbad=maybe\nnovalue\nempty=\n",
    null,
  );

  test("numbers and booleans follow Python's rules", () => {
    expect(c.getFloat("n", "f")).toBe(0.25);
    expect(c.getFloat("n", "e")).toBe(0.001);
    expect(c.getFloat("n", "inf")).toBe(Number.NEGATIVE_INFINITY);
    expect(c.getInt("n", "i")).toBe(12);
    expect(c.getInt("n", "u")).toBe(1000);
    expect(c.getFloat("n", "i")).toBe(12);
    expect(c.getBoolean("n", "b1")).toBe(true);
    expect(c.getBoolean("n", "b0")).toBe(false);
  });

  test("unparsable values name the file, line, section, key, value and what is allowed", () => {
    expect(() => c.getInt("n", "badint")).toThrow("config.ini:7: [n] badint=1.0 is not valid: expected a whole number (e.g. 12)");
    expect(() => c.getBoolean("n", "bad")).toThrow("config.ini:10: [n] bad=maybe is not valid: expected 1/yes/true/on or 0/no/false/off");
    expect(() => c.getFloat("n", "empty")).toThrow(ConfigError);
  });

  test("fallbacks apply to absent keys and keys without a value, not to bad values", () => {
    expect(c.getInt("n", "absent", 7)).toBe(7);
    expect(c.getInt("missing", "x", 7)).toBe(7);
    expect(c.getInt("n", "novalue", 7)).toBe(7);
    expect(c.getString("n", "novalue", "d")).toBe("d");
    expect(() => c.getInt("n", "badint", 7)).toThrow(/badint/);
  });

  test("a missing key without fallback tells the user what to add", () => {
    expect(() => c.getString("n", "absent")).toThrow('key "absent" is missing from [n]. Add it to config.ini:\n\n[n]\nabsent=<value>');
    expect(() => c.getFloat("nope", "x")).toThrow("section [nope] is missing");
  });

  test("section() has no prototype keys to trip over", () => {
    const s = layered("[a]\nconstructor=1\n", null).section("a")!;
    expect(s.constructor).toBe("1");
    expect(Object.keys(s)).toEqual(["constructor"]);
  });
});
