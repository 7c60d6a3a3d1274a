import {
  decodeAutomationEvent,
  decodeAutomationSettings,
  decodeAutomationSettingsJson,
  decodeCalibratedODReading,
  decodeDosingEvent,
  decodeGrowthRate,
  decodeKalmanFilterOutput,
  decodeLEDChangeEvent,
  decodeLog,
  decodeMeasuredRPM,
  decodeODFiltered,
  decodeODFused,
  decodeODReading,
  decodeODReadings,
  decodeRawODReading,
  decodeRelativeIntensityOfIrLed,
  decodeTemperature,
  decodeVoltage,
} from "../../src/pubsub/structs";
import { readWireCaptures } from "../leader/wire-captures";

const DECODER_BY_TOPIC_SUFFIX: Array<[RegExp, (p: string) => { ok: boolean; error?: string }]> = [
  [/\/stirring\/measured_rpm$/, decodeMeasuredRPM],
  [/\/growth_rate_calculating\/growth_rate$/, decodeGrowthRate],
  [/\/growth_rate_calculating\/od_filtered$/, decodeODFiltered],
  [/\/od_reading\/od[1-4]$/, decodeODReading],
  [/\/od_reading\/ods$/, decodeODReadings],
  [/\/od_reading\/relative_intensity_of_ir_led$/, decodeRelativeIntensityOfIrLed],
  [/\/dosing_events$/, decodeDosingEvent],
  [/_automation\/latest_event$/, (p) => decodeAutomationEvent(p)],
  [/_automation\/\w+_automation_settings$/, decodeAutomationSettings],
  [/\/logs\//, decodeLog],
  [/\/monitor\/voltage_on_pwm_rail$/, decodeVoltage],
];

describe("struct decoders on the original's wire captures", () => {
  const messages = readWireCaptures().filter((m) => m.payload !== "");
  const itIfCaptures = messages.length > 0 ? it : it.skip;

  itIfCaptures("accept every struct payload the original published", () => {
    const counts = new Map<RegExp, number>();
    for (const m of messages) {
      const entry = DECODER_BY_TOPIC_SUFFIX.find(([re]) => re.test(m.topic));
      if (!entry) continue;
      const result = entry[1](m.payload);
      expect({ topic: m.topic, payload: m.payload, result }).toEqual({ topic: m.topic, payload: m.payload, result: expect.objectContaining({ ok: true }) });
      counts.set(entry[0], (counts.get(entry[0]) ?? 0) + 1);
    }
    // Every decoder met at least one real payload.
    expect(counts.size).toBe(DECODER_BY_TOPIC_SUFFIX.length);
  });
});

const OD = { calibrated: 0, timestamp: "2026-11-21T05:43:58.816000Z", angle: "90", od: 0.0119, channel: "2", ir_led_intensity: 80.0 };
const j = (o: unknown) => JSON.stringify(o);

function rejected(result: { ok: boolean; error?: string }): string {
  expect(result.ok).toBe(false);
  return result.error ?? "";
}

describe("strictness (as msgspec)", () => {
  it("decodes values and timestamps (truncated to ms, offsets applied)", () => {
    const r = decodeGrowthRate('{"growth_rate":2.742043806089048e-7,"timestamp":"2026-11-21T05:45:43.795999Z"}');
    expect(r).toEqual({ ok: true, value: { growth_rate: 2.742043806089048e-7, timestamp: { epochMs: Date.UTC(2026, 10, 21, 5, 45, 43, 795), text: "2026-11-21T05:45:43.795999Z" } } });
    const off = decodeTemperature('{"timestamp":"2026-01-01T02:00:00+02:00","temperature":30}');
    expect(off.ok && off.value.timestamp.epochMs).toBe(Date.UTC(2026, 0, 1));
  });

  it("accepts ints for floats but not numeric strings or booleans", () => {
    expect(decodeODFused('{"od_fused":1,"timestamp":"2026-01-01T00:00:00Z"}').ok).toBe(true);
    expect(rejected(decodeODFused('{"od_fused":"1.0","timestamp":"2026-01-01T00:00:00Z"}'))).toMatch(/^od_fused: expected a number/);
    expect(rejected(decodeODFused('{"od_fused":true,"timestamp":"2026-01-01T00:00:00Z"}'))).toMatch(/^od_fused: /);
  });

  it("requires every field and names the missing one", () => {
    expect(rejected(decodeODFiltered('{"timestamp":"2026-01-01T00:00:00Z"}'))).toBe("od_filtered: required field is missing");
    expect(rejected(decodeDosingEvent('{"volume_change":1,"event":"add_media","timestamp":"2026-01-01T00:00:00Z"}'))).toBe(
      "source_of_event: required field is missing",
    );
  });

  it("requires a timezone on datetimes", () => {
    expect(rejected(decodeMeasuredRPM('{"measured_rpm":1,"timestamp":"2026-01-01T00:00:00"}'))).toMatch(/^timestamp: datetime has no timezone/);
    expect(rejected(decodeMeasuredRPM('{"measured_rpm":1,"timestamp":"2026-02-30T00:00:00Z"}'))).toMatch(/^timestamp: not a valid/);
    expect(rejected(decodeMeasuredRPM('{"measured_rpm":1,"timestamp":1700000000}'))).toMatch(/^timestamp: /);
  });

  it("knows leap years and month lengths, also when the same text is decoded twice", () => {
    const at = (text: string) => decodeMeasuredRPM(`{"measured_rpm":1,"timestamp":"${text}"}`);
    for (let i = 0; i < 2; i++) {
      expect(at("2024-02-29T12:00:00.5+01:00")).toEqual({
        ok: true,
        value: { measured_rpm: 1, timestamp: { epochMs: Date.UTC(2024, 1, 29, 11, 0, 0, 500), text: "2024-02-29T12:00:00.5+01:00" } },
      });
      expect(at("2000-02-29T00:00:00Z").ok).toBe(true);
      expect(rejected(at("2100-02-29T00:00:00Z"))).toMatch(/^timestamp: not a valid/);
      expect(rejected(at("2026-04-31T00:00:00Z"))).toMatch(/^timestamp: not a valid/);
      expect(at("2026-12-31T23:59:59.999999Z").ok).toBe(true);
    }
  });

  it("enforces bounds: measured_rpm ≥ 0, raw od ≥ 0, LED intensity 0–100", () => {
    expect(rejected(decodeMeasuredRPM('{"measured_rpm":-1,"timestamp":"2026-01-01T00:00:00Z"}'))).toBe("measured_rpm: expected a number >= 0, got -1");
    expect(rejected(decodeRawODReading(j({ ...OD, od: -0.1 })))).toMatch(/^od: expected a number >= 0/);
    // A calibrated OD may be negative.
    expect(decodeCalibratedODReading(j({ ...OD, calibrated: 1, od: -0.1, calibration_name: "c" })).ok).toBe(true);
    const led = { channel: "A", intensity: 50, source_of_event: null, timestamp: "2026-01-01T00:00:00Z" };
    expect(decodeLEDChangeEvent(j(led)).ok).toBe(true);
    expect(rejected(decodeLEDChangeEvent(j({ ...led, intensity: 100.5 })))).toMatch(/^intensity: expected a number <= 100/);
    expect(rejected(decodeLEDChangeEvent(j({ ...led, channel: "E" })))).toMatch(/^channel: expected one of "A", "B", "C", "D"/);
  });

  it("wants string literals for channel and angle", () => {
    expect(rejected(decodeODReading(j({ ...OD, channel: 2 })))).toMatch(/^channel: expected one of "1", "2", "3", "4"/);
    expect(rejected(decodeODReading(j({ ...OD, angle: 90 })))).toMatch(/^angle: /);
    expect(rejected(decodeODReading(j({ ...OD, angle: "REF" })))).toMatch(/^angle: /);
    expect(rejected(decodeODReadings(j({ timestamp: OD.timestamp, ods: { "5": OD } })))).toMatch(/^ods\["5"\]: /);
    expect(rejected(decodeODReadings(j({ timestamp: OD.timestamp, ods: { "2": { ...OD, od: -1 } } })))).toMatch(/^ods\.2\.od: /);
  });

  it("dispatches OD readings on the `calibrated` tag", () => {
    const cal = decodeODReading(j({ ...OD, calibrated: 1, calibration_name: "c" }));
    expect(cal.ok && cal.value.calibrated).toBe(1);
    expect(rejected(decodeODReading(j({ ...OD, calibrated: 1 })))).toBe("calibration_name: required field is missing");
    expect(rejected(decodeODReading(j({ ...OD, calibrated: 2 })))).toMatch(/^calibrated: /);
    const { calibrated: _, ...untagged } = OD;
    expect(rejected(decodeODReading(j(untagged)))).toBe("calibrated: required field is missing");
  });

  it("decodes automation events as a tagged union", () => {
    const ev = decodeAutomationEvent('{"event_name":"DosingStarted","message":null,"data":{"waste_ml":0.5}}');
    expect(ev).toEqual({ ok: true, value: { event_name: "DosingStarted", message: null, data: { waste_ml: 0.5 } } });
    expect(decodeAutomationEvent('{"event_name":"NoEvent"}')).toEqual({ ok: true, value: { event_name: "NoEvent", message: null, data: null } });
    expect(rejected(decodeAutomationEvent('{"event_name":"MyPluginEvent"}'))).toMatch(/^event_name: unknown automation event/);
    expect(decodeAutomationEvent('{"event_name":"MyPluginEvent"}', ["MyPluginEvent"]).ok).toBe(true);
    expect(rejected(decodeAutomationEvent('{"message":"x"}'))).toBe("event_name: required field is missing");
    expect(rejected(decodeAutomationEvent('{"event_name":"NoEvent","data":[1]}'))).toMatch(/^data: expected an object/);
  });

  it("decodes automation settings (base64 of JSON)", () => {
    const payload = j({
      pioreactor_unit: "leader",
      experiment: "exp1",
      started_at: "2026-11-21T05:45:49.109000Z",
      ended_at: null,
      automation_name: "chemostat",
      settings: "eyJkdXJhdGlvbiI6bnVsbCwiZXhjaGFuZ2Vfdm9sdW1lX21sIjowLjUsInN0YXRlIjoiaW5pdCJ9",
    });
    const r = decodeAutomationSettings(payload);
    expect(r.ok).toBe(true);
    if (r.ok) expect(decodeAutomationSettingsJson(r.value.settings)).toEqual({ ok: true, value: { duration: null, exchange_volume_ml: 0.5, state: "init" } });
    expect(rejected(decodeAutomationSettings(payload.replace("eyJk", "!!Jk")))).toBe("settings: expected base64-encoded bytes");
  });

  it("decodes logs and legacy Kalman filter outputs; rejects bad JSON and non-objects", () => {
    expect(decodeLog('{"taskName":null,"source":"app","task":"od_reading","message":"Init.","level":"DEBUG","timestamp":"2026-11-21T05:43:57.471Z"}').ok).toBe(true);
    expect(rejected(decodeLog('{"source":"app","task":"t","message":5,"level":"DEBUG","timestamp":"2026-11-21T05:43:57.471Z"}'))).toMatch(/^message: expected a string/);
    expect(decodeKalmanFilterOutput('{"state":[1,2,3],"covariance_matrix":[[1]],"timestamp":"2026-01-01T00:00:00Z"}').ok).toBe(true);
    expect(rejected(decodeKalmanFilterOutput('{"state":[1,2,3,4],"covariance_matrix":[],"timestamp":"2026-01-01T00:00:00Z"}'))).toMatch(/^state: expected at most 3/);
    expect(rejected(decodeGrowthRate("{not json"))).toBe("payload: not valid JSON");
    expect(rejected(decodeGrowthRate("[1]"))).toMatch(/^payload: expected an object/);
  });
});

describe("subscribers of one message share its decoding", () => {
  const text = '{"timestamp":"2026-01-01T00:00:00.000000Z","ods":{"2":{"timestamp":"2026-01-01T00:00:00.000000Z","angle":"90","od":0.5,"channel":"2","ir_led_intensity":80.0,"calibrated":0}}}';

  it("answers the same payload object with the same result, and any other payload afresh", () => {
    const payload = Buffer.from(text);
    const first = decodeODReadings(payload);
    expect(first.ok).toBe(true);
    expect(decodeODReadings(payload)).toBe(first);
    const copy = Buffer.from(text);
    const again = decodeODReadings(copy);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    // A bad payload after a good one is reported, not answered from the last result.
    expect(decodeODReadings(Buffer.from("{}")).ok).toBe(false);
  });
});
