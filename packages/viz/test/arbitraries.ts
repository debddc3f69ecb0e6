import { fc } from "@fast-check/vitest";

/** Strings that stress escaping: markup, quotes, controls, lone surrogates, non-characters. */
export const nastyString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({
    unit: fc.constantFrom(
      "<",
      ">",
      "&",
      '"',
      "'",
      "\u0000",
      "\u0008",
      "\ud800",
      "\udfff",
      "]]>",
      "\n",
      "\t",
      "\uffff",
      "é",
      "😀",
      "a",
      "&amp;",
      "--",
    ),
    maxLength: 30,
  }),
);
