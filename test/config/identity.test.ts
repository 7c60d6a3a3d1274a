import { Identity, amILeader, leaderBaseUrl, mqttBrokerAddress, unitBaseUrl, unitName } from "../../src/config/identity";
import {
  IdentityError,
  LeaderAuthError,
  LeaderUnreachableError,
  NotAssignedAnExperimentError,
  NoWorkerFoundError,
} from "../../src/config/identity-errors";
import { IniDocument } from "../../src/config/ini";
import { LayeredConfig } from "../../src/config/layered";
import type { FetchInitLike, FetchLike } from "../../src/config/leader-http";
import { VirtualClock } from "../../src/util/clock";

const CONFIG = `[cluster.topology]
leader_hostname=leader
leader_address=10.0.0.1

[cluster.addresses]
pio02=10.0.0.2

[ui]
proto=http
port=4999

[mqtt]
broker_address=10.0.0.9;backup
`;

function config(extra = ""): LayeredConfig {
  return LayeredConfig.fromDocuments(IniDocument.parse(CONFIG + extra, { file: "config.ini" }));
}

interface Call {
  url: string;
  init?: FetchInitLike;
}

/** A fake leader: answers each call with the next scripted response (an Error = network failure). */
function fakeLeader(responses: Array<{ status: number; body?: unknown } | Error>): { fetch: FetchLike; calls: Call[] } {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init });
    const next = responses.shift();
    if (next === undefined) throw new Error("fake leader: no response scripted");
    if (next instanceof Error) throw next;
    return { status: next.status, text: async () => (next.body === undefined ? "" : JSON.stringify(next.body)) };
  };
  return { fetch, calls };
}

const host = () => "pio01";

describe("unit name and leader", () => {
  test("HOSTNAME wins, then the leader's hostname under TESTING, then the OS hostname", () => {
    expect(unitName({ HOSTNAME: "pio07", TESTING: "1" }, config(), host)).toBe("pio07");
    expect(unitName({ TESTING: "1" }, config(), host)).toBe("leader");
    expect(unitName({ HOSTNAME: "" }, config(), host)).toBe("pio01");
  });

  test("the stock Raspberry Pi hostname is refused with a hint", () => {
    expect(() => unitName({}, config(), () => "raspberrypi")).toThrow(IdentityError);
    expect(() => unitName({}, config(), () => "raspberrypi")).toThrow(/still "raspberrypi".*set HOSTNAME/);
  });

  test("amILeader compares with [cluster.topology] leader_hostname, and is always true under TESTING", () => {
    expect(amILeader({}, config(), host)).toBe(false);
    expect(amILeader({}, config(), () => "leader")).toBe(true);
    expect(amILeader({ TESTING: "1", HOSTNAME: "pio01" }, config(), host)).toBe(true);
  });

  test("HTTP base URLs use [ui] proto and port, and unit addresses from [cluster.addresses] or mDNS", () => {
    const c = config();
    expect(leaderBaseUrl(c)).toBe("http://10.0.0.1:4999");
    expect(unitBaseUrl(c, "pio02")).toBe("http://10.0.0.2:4999");
    expect(unitBaseUrl(c, "pio03")).toBe("http://pio03.local:4999");
    expect(unitBaseUrl(c, "leader")).toBe("http://10.0.0.1:4999");
    expect(unitBaseUrl(c, "localhost")).toBe("http://localhost:4999");
    expect(unitBaseUrl(c, "192.168.1.5")).toBe("http://192.168.1.5:4999");
  });

  test("the MQTT broker is the first of [mqtt] broker_address, else the leader's address", () => {
    expect(mqttBrokerAddress(config())).toBe("10.0.0.9");
    const noBroker = LayeredConfig.fromDocuments(IniDocument.parse("[cluster.topology]\nleader_address=10.0.0.1\n"));
    expect(mqttBrokerAddress(noBroker)).toBe("10.0.0.1");
  });
});

describe("under TESTING", () => {
  const identity = new Identity({ env: { TESTING: "1" }, config: config(), hostname: host, fetch: fakeLeader([]).fetch });

  test("experiment, active flag and model need no leader", async () => {
    expect(await identity.assignedExperiment()).toBe("_testing_experiment");
    expect(await identity.isActive()).toBe(true);
    expect(await identity.modelName()).toBe("pioreactor_40ml");
    expect(await identity.modelVersion()).toBe("1.5");
    expect(identity.amILeader()).toBe(true);
  });

  test("environment variables still win", async () => {
    const withEnv = new Identity({
      env: { TESTING: "1", EXPERIMENT: "exp1", MODEL_NAME: "pioreactor_20ml", MODEL_VERSION: "1.1" },
      config: config(),
      fetch: fakeLeader([]).fetch,
    });
    expect(await withEnv.assignedExperiment()).toBe("exp1");
    expect(await withEnv.modelName()).toBe("pioreactor_20ml");
    expect(await withEnv.modelVersion()).toBe("1.1");
  });
});

describe("asking the leader", () => {
  test("reads the assigned experiment with the API key", async () => {
    const leader = fakeLeader([{ status: 200, body: { pioreactor_unit: "pio01", experiment: "Trial 3", is_active: 1 } }]);
    const identity = new Identity({ env: {}, config: config("\n[ui_basic_auth]\napi_key=s3cret\n"), hostname: host, fetch: leader.fetch });
    expect(await identity.assignedExperiment()).toBe("Trial 3");
    expect(leader.calls[0].url).toBe("http://10.0.0.1:4999/api/workers/pio01/experiment");
    expect(leader.calls[0].init?.headers?.Authorization).toBe("Basic s3cret");
  });

  test("no Authorization header without an api_key", async () => {
    const leader = fakeLeader([{ status: 200, body: { experiment: "e" } }]);
    await new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch }).assignedExperiment();
    expect(leader.calls[0].init?.headers?.Authorization).toBeUndefined();
  });

  test("404 means not assigned: a clear error with the leader's words and what to do", async () => {
    const leader = fakeLeader([{ status: 404, body: { error: "Worker pio01 is not assigned to an experiment." } }]);
    const identity = new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch });
    await expect(identity.assignedExperiment()).rejects.toBeInstanceOf(NotAssignedAnExperimentError);
    // Not retried: the assignment will not appear by asking again.
    expect(leader.calls).toHaveLength(1);
  });

  test("404 message names the unit and the fix", async () => {
    const leader = fakeLeader([{ status: 404, body: { error: "not assigned" } }]);
    const identity = new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch });
    await expect(identity.assignedExperiment()).rejects.toThrow(
      "pio01 is not assigned to any experiment (leader says: not assigned). Assign it in the UI, or on the leader run: pio workers assign pio01 <experiment>",
    );
  });

  test("401 is an authentication error, not retried", async () => {
    const leader = fakeLeader([{ status: 401 }]);
    const identity = new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch });
    await expect(identity.assignedExperiment()).rejects.toThrow(LeaderAuthError);
    expect(leader.calls).toHaveLength(1);
  });

  test("transient failures are retried with growing pauses on the injected clock", async () => {
    const clock = new VirtualClock(0);
    const leader = fakeLeader([new Error("ECONNREFUSED"), { status: 503 }, { status: 200, body: { experiment: "late" } }]);
    const identity = new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch, clock });
    const result = identity.assignedExperiment();
    await clock.runAll();
    await expect(result).resolves.toBe("late");
    expect(leader.calls).toHaveLength(3);
    expect(clock.now()).toBe(500 + 1000);
  });

  test("giving up after the last attempt says what went wrong", async () => {
    const clock = new VirtualClock(0);
    const leader = fakeLeader([new Error("a"), new Error("b"), new Error("ECONNREFUSED")]);
    const identity = new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch, clock, experimentAttempts: 3 });
    const result = identity.assignedExperiment();
    const settled = result.catch((e) => e);
    await clock.runAll();
    const error = await settled;
    expect(error).toBeInstanceOf(LeaderUnreachableError);
    expect(error.message).toMatch(/after 3 attempts \(last problem: ECONNREFUSED\).*or set EXPERIMENT/);
  });

  test("active flag: ACTIVE env first, else the leader's inventory; unknown worker is a clear error", async () => {
    expect(await new Identity({ env: { ACTIVE: "0" }, config: config(), fetch: fakeLeader([]).fetch }).isActive("x")).toBe(false);
    const leader = fakeLeader([{ status: 200, body: { is_active: 0 } }, { status: 404, body: { error: "nope" } }]);
    const identity = new Identity({ env: {}, config: config(), hostname: host, fetch: leader.fetch });
    expect(await identity.isActive()).toBe(false);
    await expect(identity.isActive("ghost")).rejects.toThrow(NoWorkerFoundError);
    expect(leader.calls.map((c) => c.url)).toEqual(["http://10.0.0.1:4999/api/workers/pio01", "http://10.0.0.1:4999/api/workers/ghost"]);
  });

  test("model of another unit comes from the leader even when MODEL_NAME is set", async () => {
    const leader = fakeLeader([{ status: 200, body: { model_name: "pioreactor_20ml", model_version: "1.0" } }]);
    const identity = new Identity({ env: { MODEL_NAME: "pioreactor_40ml" }, config: config(), hostname: host, fetch: leader.fetch });
    expect(await identity.modelName("pio02")).toBe("pioreactor_20ml");
    expect(await identity.modelName()).toBe("pioreactor_40ml");
  });
});
