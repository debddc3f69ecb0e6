import { format as nodeFormat, inspect as nodeInspect } from "node:util";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { formatArgs, inspect } from "./inspect.js";

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

const samples: [string, unknown][] = [
  ["a number", 42],
  ["minus zero", -0],
  ["a bigint", 123n],
  ["a string", "it's"],
  ["a string with both quotes", `it's "x"`],
  ["a string with control characters", "a\tb\nc\x01"],
  ["null and undefined", [null, undefined]],
  ["a symbol", Symbol("s")],
  ["a plain object", { a: 1, b: "x", "c-d": [1, 2] }],
  ["an empty object and array", [{}, []]],
  ["nesting beyond depth 2", { a: { b: { c: { d: 1 } } }, l: [[[[1]]]] }],
  ["a long array (grouped)", Array.from({ length: 30 }, (_, i) => i * 37)],
  ["strings in an array", ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]],
  ["more than 100 items", Array.from({ length: 120 }, (_, i) => i)],
  ["a sparse array", Object.assign(new Array(4), { 0: 1, 3: 4 })],
  ["a class instance", new Point(1, 2)],
  [
    "a Map and a Set",
    [
      new Map<unknown, unknown>([
        ["k", { v: 1 }],
        [2, [3]],
      ]),
      new Set([1, "two"]),
    ],
  ],
  ["a Uint8Array", new Uint8Array([1, 2, 3, 250])],
  ["a BigUint64Array", new BigUint64Array([1n, 2n])],
  ["a null-prototype object", Object.assign(Object.create(null), { a: 1 })],
  ["functions and classes", [function named() {}, () => 1, Point, async function af() {}]],
  ["a getter", Object.defineProperty({}, "g", { get: () => 1, enumerable: true })],
  [
    "a wide object",
    Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`key${i}`, `value number ${i}`])),
  ],
  [
    "a long multi-line string in an object",
    { s: "line one is here\nline two is here too\nand a third one that is long" },
  ],
  ["a date", new Date(0)],
  ["a regexp", /a+b/gi],
  ["a symbol key", { [Symbol("k")]: 1 }],
];

describe("inspect", () => {
  for (const [what, value] of samples) {
    it(`prints ${what} as Node's util.inspect does`, () => {
      expect(inspect(value)).toBe(nodeInspect(value));
    });
  }

  it("marks circular references as Node does", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    a.list = [a];
    expect(inspect(a)).toBe(nodeInspect(a));
  });

  it("prints errors without a stack, with their own properties", () => {
    const e = Object.assign(new RangeError("bad"), { code: "EBUSY" });
    expect(inspect(e)).toBe("[RangeError: bad] { code: 'EBUSY' }");
    expect(inspect({ e: new Error("x") })).toBe("{ e: [Error: x] }");
  });

  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.integer(),
      fc.double(),
      fc.bigInt(),
      fc.boolean(),
      fc.constantFrom(null, undefined),
      fc.string({ unit: fc.constantFrom(..."abc XYZ'\"`\n\\_-1"), maxLength: 30 }),
      fc.array(tie("value"), { maxLength: 12 }),
      fc.dictionary(
        fc.string({ unit: fc.constantFrom(..."ab_1-$ "), minLength: 1, maxLength: 6 }),
        tie("value"),
        {
          maxKeys: 6,
        },
      ),
      fc
        .array(fc.tuple(fc.string({ maxLength: 3, unit: "grapheme-ascii" }), tie("value")), {
          maxLength: 4,
        })
        .map((entries) => new Map(entries)),
    ),
  })).value;

  test.prop([json], { numRuns: 300 })("matches util.inspect on generated data", (v) => {
    expect(inspect(v)).toBe(nodeInspect(v));
  });
});

describe("formatArgs", () => {
  const cases: unknown[][] = [
    [],
    ["plain"],
    ["100%% done"],
    ["%s is %d years and %i days, %f", "x", 42, 7.9, "1.5"],
    ["%j and %o and %O", { a: [1] }, { b: 2 }, { c: 3 }],
    ["%s", 12n],
    ["%d", 12n],
    ["%c styled", "color: red"],
    ["missing %s %s", "one"],
    ["extra", "args", 3, { x: 1 }],
    [{ first: "object" }, "then string"],
    [1, 2, 3],
  ];
  for (const args of cases) {
    it(`formats ${JSON.stringify(args, (_, v) => (typeof v === "bigint" ? `${v}n` : v))} as util.format`, () => {
      expect(formatArgs(args)).toBe(nodeFormat(...args));
    });
  }
});
