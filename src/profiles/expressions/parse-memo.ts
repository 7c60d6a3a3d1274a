/**
 * Parsed expressions and log-message templates, kept for the life of one profile run. A run
 * evaluates the same few texts thousands of times (a repeat's `${{ … }}` every cycle, a log
 * message twice per post); parsing is pure, so each text is parsed once. The keys are texts from
 * the profile, so the memo is as big as the profile, not as long as the run.
 */
import { findEmbeddedExpressions } from "./brackets";
import { type ParseResult, type PrecedenceModel, parseExpression } from "./parser";

export type EmbeddedExpression = ReturnType<typeof findEmbeddedExpressions>[number];

export class ParseMemo {
  private readonly parsed: Record<PrecedenceModel, Map<string, ParseResult>> = { python: new Map(), original: new Map() };
  private readonly templates = new Map<string, readonly EmbeddedExpression[]>();

  /** `parseExpression(text, model)`; the result is shared, so callers must not change it. */
  parse(text: string, model: PrecedenceModel): ParseResult {
    const memo = this.parsed[model];
    let result = memo.get(text);
    if (result === undefined) {
      result = parseExpression(text, model);
      memo.set(text, result);
    }
    return result;
  }

  /** `findEmbeddedExpressions(message)`, shared likewise. */
  embedded(message: string): readonly EmbeddedExpression[] {
    let found = this.templates.get(message);
    if (found === undefined) {
      found = findEmbeddedExpressions(message);
      this.templates.set(message, found);
    }
    return found;
  }
}
