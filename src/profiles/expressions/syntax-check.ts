/**
 * Static checks of one expression field, as the validator needs them:
 * - the original's `check_syntax_of_bool_expression` verdict and message text, and
 * - this project's additions: the `a::b:c` gap the original lets through, and a warning wherever
 *   the original's real precedence reads the text differently from Python's.
 */
import { type Expr, printCanonical, printExplicit } from "./ast";
import { isBracketedExpression, stripExpressionBrackets } from "./brackets";
import { closestMatch } from "../diagnostics";
import { parseExpression } from "./parser";

export interface SyntaxCheck {
  /** An `expression.syntax` error: `message` is the original's text. */
  error?: { message: string; hint?: string };
  /**
   * Calls of functions that do not exist. The original accepts them when validating and fails
   * every time they are evaluated; we report them up front (`message` is its runtime text).
   */
  unknownFunctions?: Array<{ name: string; message: string; hint?: string }>;
  /** The expression is valid but means something else under the original's precedence. */
  precedence?: { message: string; hint: string };
}

/** The zero-argument functions expressions may call (profiles spec §5.5). */
export const KNOWN_FUNCTIONS: readonly string[] = ["random", "unit", "experiment", "job_name", "hours_elapsed"];

function functionNames(e: Expr): string[] {
  switch (e.kind) {
    case "function":
      return [e.name];
    case "unary":
      return functionNames(e.operand);
    case "binary":
      return [...functionNames(e.left), ...functionNames(e.right)];
    case "chain":
      return e.operands.flatMap(functionNames);
    default:
      return [];
  }
}

function closestFunction(name: string): string | undefined {
  return closestMatch(name, KNOWN_FUNCTIONS);
}

const SYNTAX_ERROR = "Syntax error in expression.";
const QUOTED = /"[^"]*"|'[^']*'/;

/** Python chains (`a < b < c`) written out as `(a < b) and (b < c)`, which both models read alike. */
function withoutChains(e: Expr): Expr {
  switch (e.kind) {
    case "unary":
      return { ...e, operand: withoutChains(e.operand) };
    case "binary":
      return { ...e, left: withoutChains(e.left), right: withoutChains(e.right) };
    case "chain": {
      const operands = e.operands.map(withoutChains);
      let acc: Expr = { kind: "binary", op: e.ops[0], left: operands[0], right: operands[1] };
      for (let i = 1; i < e.ops.length; i++) {
        acc = {
          kind: "binary",
          op: "and",
          left: acc,
          right: { kind: "binary", op: e.ops[i], left: operands[i], right: operands[i + 1] },
        };
      }
      return acc;
    }
    default:
      return e;
  }
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function checkExpressionSyntax(value: string | boolean): SyntaxCheck {
  if (typeof value === "boolean") return {};
  const text = isBracketedExpression(value) ? stripExpressionBrackets(value) : value;

  const quoted = QUOTED.exec(text);
  if (quoted) {
    return {
      error: {
        message: `Quoted string literals are not supported in profile expressions. Found ${quoted[0]}.`,
        hint: "Compare with a bare word instead, e.g. `::stirring:$state == ready`.",
      },
    };
  }

  // The original validates with the first `::` rewritten to `dummy:`; keep its verdict.
  const asOriginalValidates = parseExpression(text.replace("::", "dummy:"), "original");
  if (!asOriginalValidates.ok) {
    const python = parseExpression(text, "python");
    const hint =
      python.ok && !asOriginalValidates.error.lexical
        ? `The original Pioreactor cannot chain \`<\`, \`==\` or \`>\`; write \`${printExplicit(withoutChains(python.expr))}\`.`
        : `${capitalize(asOriginalValidates.error.detail)} at offset ${asOriginalValidates.error.index} of \`${text}\`.`;
    return { error: { message: SYNTAX_ERROR, hint } };
  }

  const original = parseExpression(text, "original");
  if (!original.ok) {
    return {
      error: {
        message: SYNTAX_ERROR,
        hint: "`::` can only start a lookup such as `::job:setting`; the original accepts this text when validating but fails when it runs.",
      },
    };
  }

  const result: SyntaxCheck = {};
  const unknown = functionNames(original.expr).filter((name) => !KNOWN_FUNCTIONS.includes(name));
  if (unknown.length > 0) {
    result.unknownFunctions = [...new Set(unknown)].map((name) => {
      const close = closestFunction(name);
      return {
        name,
        message: `${name}() is not a valid function in profile expressions.`,
        hint: close ? `Did you mean \`${close}()\`?` : `Available: ${KNOWN_FUNCTIONS.map((f) => `${f}()`).join(", ")}.`,
      };
    });
  }

  const python = parseExpression(text, "python");
  if (python.ok && printCanonical(python.expr) !== printCanonical(original.expr)) {
    const portable = printExplicit(withoutChains(python.expr));
    result.precedence = {
        message:
          `Operator precedence differs from Python here: the original Pioreactor reads this as ` +
          `\`${printExplicit(original.expr)}\`, pioreactor-ts (like Python) as \`${printExplicit(python.expr)}\`.`,
        hint: `Add parentheses so both read it the same: \`${portable}\`.`,
    };
  }
  return result;
}
