import { profileToJsonForm } from "../../src/profiles/json-form";
import { validateProfileText } from "../../src/profiles/validate";
import { pythonJsonDumps } from "../../src/util/python-format";

test("JSON form: defaults present, original field order, ints kept (profiles spec §2.5)", () => {
  const r = validateProfileText(
    'version: "1.0"\nexperiment_profile_name: n\ninputs: {k: 1}\ncommon:\n  jobs:\n    s:\n      actions:\n        - type: start\n          t: 0s\n        - type: log\n          t: 1\n          options: {message: hi}\n        - type: stop\n          t: .inf\n',
  );
  const json = pythonJsonDumps(profileToJsonForm(r.profile!), { compact: true });
  expect(json).toContain('{"type":"start","hours_elapsed":null,"t":"0s","if":true,"options":{},"args":[],"config_overrides":{}}');
  expect(json).toContain('{"type":"log","options":{"message":"hi","level":"NOTICE"},"if":true,"hours_elapsed":null,"t":1.0}');
  expect(json).toContain('{"type":"stop","hours_elapsed":null,"t":null,"if":true}');
  expect(json.startsWith('{"version":"1.0","experiment_profile_name":"n","metadata":{"author":null,"description":null},"plugins":[],"common"')).toBe(true);
  expect(json.endsWith(',"pioreactors":{},"inputs":{"k":1}}')).toBe(true);
});
