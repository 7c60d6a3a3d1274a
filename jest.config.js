/** Tests run TypeScript through swc (no type-check here; `npm run typecheck` does that).
 * aedes is ESM-only, so it is transformed too (Jest on Node 20 cannot require ESM). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022" }, module: { type: "commonjs" } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!(aedes|aedes-persistence|commander)/)"],
  testTimeout: 30000,
};
