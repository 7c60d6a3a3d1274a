/**
 * Checks an edited config file before it is written, with the original's rules and messages:
 * configparser's strict mode (no duplicate sections or options), valid syntax, and for the shared
 * file the keys every unit needs to find its leader and broker.
 */
import { IniDocument } from "../../config/ini";
import { badRequest } from "./http-errors";

/** En and em dashes (pasted from documents) become `-`, as the original does before saving. */
export function normalizeIniText(code: string): string {
  return code.replace(/[\u2013\u2014]/g, "-");
}

const SECTION_HEADER = /^\[(.+)\]/;
const OPTION = /^([^=:]*?)\s*[=:]/;

/** configparser `strict=True`: the first repeated section or option (keys are case-sensitive). */
function findDuplicate(text: string): { section: string; option?: string } | undefined {
  const sections = new Set<string>();
  let current: Set<string> | undefined;
  let currentName = "";
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const line = raw.replace(/\s+$/, "");
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#") || trimmed.startsWith(";")) continue;
    if (/^\s/.test(line) && current) continue; // continuation of the previous value
    const header = SECTION_HEADER.exec(line);
    if (header) {
      currentName = header[1];
      if (sections.has(currentName)) return { section: currentName };
      sections.add(currentName);
      current = new Set();
      continue;
    }
    if (!current) continue;
    const option = (OPTION.exec(line)?.[1] ?? trimmed).trim();
    if (current.has(option)) return { section: currentName, option };
    current.add(option);
  }
  return undefined;
}

/** Throws 400 with the original's message for the first problem; returns the parsed document. */
export function validateIniText(code: string): IniDocument {
  const dup = findDuplicate(code);
  if (dup?.option !== undefined) {
    throw badRequest(`Duplicate option, \`${dup.option}\`, was found in section [${dup.section}]. Please fix and try again.`);
  }
  if (dup) throw badRequest(`Duplicate section [${dup.section}] was found. Please fix and try again.`);
  try {
    return IniDocument.parse(code);
  } catch (e) {
    throw badRequest("Incorrect syntax. Please fix and try again.", { cause: (e as Error).message });
  }
}

/** The shared config must name the leader and have an `[mqtt]` section; addresses are bare hosts. */
export function validateSharedConfigText(code: string): string {
  const normalized = normalizeIniText(code);
  const doc = validateIniText(normalized);
  const missing: string[] = [];
  if (!doc.getRaw("cluster.topology", "leader_hostname")) missing.push("[cluster.topology] leader_hostname");
  if (!doc.getRaw("cluster.topology", "leader_address")) missing.push("[cluster.topology] leader_address");
  if (!doc.hasSection("mqtt")) missing.push("[mqtt]");
  if (missing.length > 0) throw badRequest(`Missing required field(s): ${missing.join(", ")}`);
  const leaderAddress = doc.getRaw("cluster.topology", "leader_address") ?? "";
  const broker = doc.getRaw("mqtt", "broker_address") ?? "";
  if (leaderAddress.startsWith("http") || broker.startsWith("http")) throw badRequest("Don't start addresses with http:// or https://");
  return normalized;
}
