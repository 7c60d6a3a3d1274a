/**
 * Parses every expression a profile can evaluate into the run's ParseMemo before the first action
 * falls due. The memo parses each text once anyway; doing it here moves that first parse (and the
 * lexer's and parser's first, uncompiled calls) out of the first instant, where every unit waits
 * for the others' checks before its request leaves (bench/profile-latency.ts). Pure: parsing has
 * no side effects, and a text that does not parse is memoised as such, to fail at its due time as before.
 */
import { findEmbeddedExpressions, isBracketedExpression, type ParseMemo, type PrecedenceModel, stripExpressionBrackets } from "./expressions";
import type { Action, Profile } from "./types";

/** The model `evaluateExpression` tries first (its fallback to "original" stays lazy: it is rare). */
export function preparseProfileExpressions(profile: Profile, memo: ParseMemo, model: PrecedenceModel): void {
  const seen = new Set<string>();
  const parse = (text: string) => {
    if (seen.has(text)) return;
    seen.add(text);
    try {
      memo.parse(text, model);
    } catch {
      // Not memoised: evaluating it at its due time fails there, as it did before.
    }
  };
  // `if`, `while`, `condition`, `wait_until`: bool as is, a string with or without brackets.
  const condition = (v: boolean | string) => {
    if (typeof v === "string" && v !== "") parse(stripExpressionBrackets(v));
  };
  // `options` and `config_overrides`: only strictly bracketed strings are evaluated.
  const options = (o: Readonly<Record<string, unknown>>) => {
    for (const value of Object.values(o)) if (isBracketedExpression(value)) parse(stripExpressionBrackets(value));
  };
  const visit = (a: Action) => {
    condition(a.if);
    switch (a.type) {
      case "start":
        options(a.options);
        options(a.config_overrides);
        break;
      case "update":
        options(a.options);
        break;
      case "log":
        memo.embedded(a.options.message);
        for (const f of findEmbeddedExpressions(a.options.message)) parse(f.expression);
        break;
      case "when":
        condition(a.wait_until !== "" ? a.wait_until : a.condition);
        a.actions.forEach(visit);
        break;
      case "repeat":
        condition(a.while);
        a.actions.forEach(visit);
        break;
      default:
        break;
    }
  };
  const blocks = [profile.common.jobs, ...Object.values(profile.pioreactors).map((b) => b.jobs)];
  for (const jobs of blocks) for (const job of Object.values(jobs)) job.actions.forEach(visit);
}
