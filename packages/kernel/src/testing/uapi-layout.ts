/**
 * The check every UAPI table of the model gets: each struct layout against what a C compiler
 * says about the real header (sizeof, _Alignof, every member's offset and size), and no struct
 * declared that the compiler was not asked about. The answers come from a small C program
 * compiled against the kernel's headers, saved as JSON beside the test
 * (`uapi-layout.c` → `uapi-layout.7.3.json` in iommufd, `vfio-layout.*` in the kernel).
 */

import { describe, expect, it } from "vitest";
import { StructLayout } from "../uapi/struct.js";

/** What the C generators print for each struct: `[member, offset, size]` in declaration order. */
export interface CStructLayouts {
  readonly structs: Record<
    string,
    { size: number; align: number; members: [string, number, number][] }
  >;
}

/**
 * Declares the layout tests of one header. `unionAliases` names, per struct, the C union
 * members the codec folds into another member (`{ in_data_type: "out_data_type" }`): they must
 * sit exactly on top of it.
 */
export function describeStructLayouts(
  header: string,
  exported: Record<string, unknown>,
  fixture: CStructLayouts,
  unionAliases: Record<string, Record<string, string>> = {},
): void {
  const layoutOf = (name: string): StructLayout => {
    const value = exported[name];
    if (!(value instanceof StructLayout)) throw new Error(`${header}: no struct ${name} exported`);
    return value;
  };

  describe(`${header} struct layouts match the C compiler`, () => {
    const names = Object.keys(fixture.structs);

    it.each(names)("struct %s: sizeof, alignment and every member", (name) => {
      const c = fixture.structs[name]!;
      const layout = layoutOf(name);
      expect(layout.name).toBe(name);
      expect(layout.size).toBe(c.size);
      expect(layout.align).toBe(c.align);

      const aliases = unionAliases[name] ?? {};
      const cMembers = c.members.filter(([member]) => !(member in aliases));
      const declared = layout.fields.filter((f) => f.type.kind !== "pad");
      expect(declared.map((f) => [f.name, f.offset, f.size])).toEqual(cMembers);

      for (const [alias, member] of Object.entries(aliases)) {
        const cAlias = c.members.find(([m]) => m === alias)!;
        expect([layout.offsetof(member), layout.field(member).size]).toEqual([
          cAlias[1],
          cAlias[2],
        ]);
      }
    });

    it("declares no struct the compiler was not asked about", () => {
      const declared = Object.entries(exported)
        .filter(([, value]) => value instanceof StructLayout)
        .map(([name]) => name);
      expect(declared.sort()).toEqual(names.slice().sort());
    });
  });
}
