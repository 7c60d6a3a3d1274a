/**
 * Pratt parser for profile expressions, with two precedence models.
 *
 * - `python` (the default, used to evaluate): Python's precedence, which is what the original's
 *   documentation and its precedence declaration intend. Comparison chains work as in Python.
 * - `original`: what the original's generated LALR parser actually does (profiles spec §5.3):
 *   `>=`/`<=` bind loosest and absorb everything to their right, unary minus binds looser than
 *   binary `+`/`-`, and `<`, `==`, `>` cannot be chained. Its accept/reject decision is the
 *   compatibility contract for validation; its trees are compared with the Python ones to warn
 *   where a profile would behave differently on the original.
 */
import type { BinaryOp, ComparisonOp, Expr } from "./ast";
import { ExpressionLexError, type Token, type TokenKind, tokenize } from "./lexer";

export type PrecedenceModel = "python" | "original";

export interface ParseFailure {
  /** What went wrong, for hints (the original only ever says `Syntax error in expression.`). */
  detail: string;
  /** Offset in the expression text, or the text length for an unexpected end. */
  index: number;
  /** True when the lexer, not the grammar, rejected the text. */
  lexical: boolean;
  /** The original's LexError text when `lexical`. */
  lexMessage?: string;
}

export type ParseResult = { ok: true; expr: Expr } | { ok: false; error: ParseFailure };

interface BinaryRule {
  prec: number;
  /** Binding power used to parse the right operand. */
  rightPrec: number;
  nonAssociative?: boolean;
  chains?: boolean;
}

interface Grammar {
  binary: Partial<Record<TokenKind, BinaryRule>>;
  /** Binding power used to parse the operand of each prefix operator. */
  prefix: { not: number; sign: number };
}

const ORIGINAL: Grammar = {
  binary: {
    ">=": { prec: 0, rightPrec: 0 },
    "<=": { prec: 0, rightPrec: 0 },
    OR: { prec: 1, rightPrec: 2 },
    AND: { prec: 2, rightPrec: 3 },
    "<": { prec: 4, rightPrec: 5, nonAssociative: true },
    "==": { prec: 4, rightPrec: 5, nonAssociative: true },
    ">": { prec: 4, rightPrec: 5, nonAssociative: true },
    "+": { prec: 6, rightPrec: 7 },
    "-": { prec: 6, rightPrec: 7 },
    "*": { prec: 7, rightPrec: 8 },
    "/": { prec: 7, rightPrec: 8 },
    "**": { prec: 8, rightPrec: 8 },
  },
  prefix: { not: 4, sign: 6 },
};

const comparison: BinaryRule = { prec: 4, rightPrec: 5, chains: true };
const PYTHON: Grammar = {
  binary: {
    OR: { prec: 1, rightPrec: 2 },
    AND: { prec: 2, rightPrec: 3 },
    "<": comparison,
    ">": comparison,
    "==": comparison,
    "<=": comparison,
    ">=": comparison,
    "+": { prec: 6, rightPrec: 7 },
    "-": { prec: 6, rightPrec: 7 },
    "*": { prec: 7, rightPrec: 8 },
    "/": { prec: 7, rightPrec: 8 },
    // Right operand is a unary expression (`2 ** -1`); the left is bound by unary minus (`-2 ** 2`).
    "**": { prec: 9, rightPrec: 8 },
  },
  // `not` in an operand position is not Python, but the original accepts it (`1 + not 0`); reading
  // its operand at comparison level gives the same tree as the original there.
  prefix: { not: 4, sign: 8 },
};

const GRAMMARS: Record<PrecedenceModel, Grammar> = { python: PYTHON, original: ORIGINAL };

class SyntaxFailure extends Error {
  constructor(
    readonly detail: string,
    readonly index: number,
  ) {
    super(detail);
  }
}

class PrattParser {
  private pos = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly grammar: Grammar,
    private readonly textLength: number,
  ) {}

  parseAll(): Expr {
    const expr = this.parse(0);
    const extra = this.tokens[this.pos];
    if (extra) throw new SyntaxFailure(`unexpected \`${extra.text}\``, extra.index);
    return expr;
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private next(): Token {
    const t = this.tokens[this.pos++];
    if (!t) throw new SyntaxFailure("unexpected end of expression", this.textLength);
    return t;
  }

  private parsePrefix(): Expr {
    const t = this.next();
    switch (t.kind) {
      case "NUMBER":
        return { kind: "number", text: t.text, value: Number(t.text) };
      case "NAME":
        return { kind: "name", name: t.text };
      case "FUNCTION":
        return { kind: "function", name: t.text.slice(0, -2) };
      case "LOOKUP":
        return { kind: "lookup", text: t.text, common: false };
      case "COMMON_LOOKUP":
        return { kind: "lookup", text: t.text, common: true };
      case "(": {
        const inner = this.parse(0);
        const close = this.peek();
        if (close?.kind !== ")") {
          throw close
            ? new SyntaxFailure(`expected \`)\` but found \`${close.text}\``, close.index)
            : new SyntaxFailure("missing `)`", this.textLength);
        }
        this.pos++;
        return inner;
      }
      case "NOT":
        return { kind: "unary", op: "not", operand: this.parse(this.grammar.prefix.not) };
      case "-":
      case "+":
        return { kind: "unary", op: t.kind, operand: this.parse(this.grammar.prefix.sign) };
      default:
        throw new SyntaxFailure(`unexpected \`${t.text}\``, t.index);
    }
  }

  private parse(minPrec: number): Expr {
    let left = this.parsePrefix();
    let previousWasNonAssociative = false;
    let previousWasChain = false;
    for (;;) {
      const t = this.peek();
      const rule = t ? this.grammar.binary[t.kind] : undefined;
      if (!t || !rule || rule.prec < minPrec) return left;
      if (rule.nonAssociative && previousWasNonAssociative) {
        throw new SyntaxFailure(`\`${t.text}\` cannot follow another comparison without parentheses`, t.index);
      }
      previousWasNonAssociative = rule.nonAssociative === true;
      this.pos++;
      const right = this.parse(rule.rightPrec);
      if (rule.chains) {
        left = chainWith(previousWasChain ? left : undefined, left, t.kind as ComparisonOp, right);
        previousWasChain = true;
      } else {
        previousWasChain = false;
        left = { kind: "binary", op: binaryOp(t.kind), left, right };
      }
    }
  }
}

/** Turns `a < b` followed by `<= c` (in the same operator loop) into one chain, as Python does. */
function chainWith(chain: Expr | undefined, left: Expr, op: ComparisonOp, right: Expr): Expr {
  if (chain && chain.kind === "chain") {
    return { kind: "chain", operands: [...chain.operands, right], ops: [...chain.ops, op] };
  }
  return { kind: "chain", operands: [left, right], ops: [op] };
}

function binaryOp(kind: TokenKind): BinaryOp {
  if (kind === "AND") return "and";
  if (kind === "OR") return "or";
  return kind as BinaryOp;
}

/** Single-operator chains become ordinary binary nodes, so both models build comparable trees. */
function normalizeChains(e: Expr): Expr {
  switch (e.kind) {
    case "unary":
      return { ...e, operand: normalizeChains(e.operand) };
    case "binary":
      return { ...e, left: normalizeChains(e.left), right: normalizeChains(e.right) };
    case "chain": {
      const operands = e.operands.map(normalizeChains);
      if (e.ops.length === 1) return { kind: "binary", op: e.ops[0], left: operands[0], right: operands[1] };
      return { kind: "chain", operands, ops: e.ops };
    }
    default:
      return e;
  }
}

export function parseExpression(text: string, model: PrecedenceModel = "python"): ParseResult {
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch (err) {
    if (err instanceof ExpressionLexError) {
      return {
        ok: false,
        error: { detail: err.message, index: err.index, lexical: true, lexMessage: err.message },
      };
    }
    throw err;
  }
  try {
    const expr = new PrattParser(tokens, GRAMMARS[model], text.length).parseAll();
    return { ok: true, expr: normalizeChains(expr) };
  } catch (err) {
    if (err instanceof SyntaxFailure) {
      return { ok: false, error: { detail: err.detail, index: err.index, lexical: false } };
    }
    throw err;
  }
}
