/** The expression language of experiment profiles: lexer, two-model parser, Python-valued evaluator. */
export type { ArithmeticOp, BinaryOp, ComparisonOp, Expr } from "./ast";
export { printCanonical, printExplicit } from "./ast";
export { findEmbeddedExpressions, isBracketedExpression, stripExpressionBrackets } from "./brackets";
export type { EvaluationContext, LookupPort } from "./evaluate";
export {
  evaluateBoolExpression,
  evaluateExpression,
  evaluateOptions,
  renderLogMessage,
} from "./evaluate";
export { decodeJsonPayload } from "./json-payload";
export { ExpressionLexError, type Token, type TokenKind, tokenize } from "./lexer";
export { type EmbeddedExpression, ParseMemo } from "./parse-memo";
export { type ParseFailure, type ParseResult, type PrecedenceModel, parseExpression } from "./parser";
export { convertString, parsePythonFloat } from "./python-float";
export { checkExpressionSyntax, type SyntaxCheck } from "./syntax-check";
export * from "./values";
