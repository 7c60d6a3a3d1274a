/**
 * Sections the original adds in memory after reading the files, so code can look things up the
 * other way round: `[leds_reverse] IR=A` from `[leds] A=IR`, `[PWM_reverse] media=2` from
 * `[PWM] 2=media`; empty photodiode channels are dropped; and the leader's own address is added
 * to `[cluster.addresses]` so every unit resolves the leader the same way.
 */
import { escapePercent } from "./interpolation";
import type { MergedSections } from "./merged";

export const DERIVED_REVERSE_SECTIONS: ReadonlyArray<readonly [string, string]> = [
  ["leds", "leds_reverse"],
  ["PWM", "PWM_reverse"],
];

export function addDerivedSections(merged: MergedSections): void {
  for (const [from, to] of DERIVED_REVERSE_SECTIONS) invertSection(merged, from, to);
  dropEmptyPhotodiodeChannels(merged);
  addLeaderAddress(merged);
}

function invertSection(merged: MergedSections, from: string, to: string): void {
  const items = merged.items(from);
  if (!items) return;
  // Later keys win when two share a label, as building a Python dict does.
  const reversed = new Map<string, string>();
  for (const [key, value] of items) {
    // Empty channels are unassigned. Keys without a value are skipped too: the original turns
    // them into a literal "None" label, which nothing could mean.
    if (value === null || value === "") continue;
    reversed.set(value, key);
  }
  merged.clearSection(to);
  for (const [label, key] of reversed) {
    // Stored escaped: the computed value must read back as is, not be interpolated a second time.
    merged.put(to, label, { raw: escapePercent(key), source: "derived" });
  }
}

function dropEmptyPhotodiodeChannels(merged: MergedSections): void {
  const section = "od_config.photodiode_channel";
  for (const [channel, value] of merged.items(section) ?? []) {
    if (value === "") merged.deleteOwn(section, channel);
  }
}

function addLeaderAddress(merged: MergedSections): void {
  merged.ensureSection("cluster.addresses");
  const hostname = merged.value("cluster.topology", "leader_hostname");
  const address = merged.value("cluster.topology", "leader_address");
  // The original adds the pair even when both are blank (a "=" key); only a real pair is useful.
  if (hostname && address) {
    merged.put("cluster.addresses", hostname, { raw: escapePercent(address), source: "derived" });
  }
}
