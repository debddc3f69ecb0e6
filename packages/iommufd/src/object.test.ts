import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  IommufdObject,
  IommufdObjectTable,
  type IommufdObjectType,
  REMOVE_OBJ_TOMBSTONE,
} from "./object.js";

class TestObject extends IommufdObject {
  destroyed = 0;
  aborted = 0;
  constructor(
    readonly type: IommufdObjectType = "IOAS",
    private readonly onDestroy: () => void = () => {},
  ) {
    super();
  }
  destroy(): void {
    this.destroyed++;
    this.onDestroy();
  }
  override abort(): void {
    this.aborted++;
  }
}

function table(fail: (site: string) => boolean = () => false) {
  return new IommufdObjectTable(fail);
}

function published(t: IommufdObjectTable, obj = new TestObject()) {
  t.alloc(obj);
  t.finalize(obj);
  return obj;
}

describe("object ids", () => {
  it("start at 1 and take the lowest free id, reusing freed ones at once", () => {
    const t = table();
    const a = published(t);
    const b = published(t);
    const c = published(t);
    expect([a.id, b.id, c.id]).toEqual([1, 2, 3]);
    t.remove(null, 2, 0);
    t.remove(null, 1, 0);
    expect(published(t).id).toBe(1);
    expect(published(t).id).toBe(2);
    expect(published(t).id).toBe(4);
  });

  it("a reserved id is invisible to lookups and destroy until finalized", () => {
    const t = table();
    const obj = t.alloc(new TestObject());
    expect(() => t.get(obj.id, "ANY")).toThrowErrno("ENOENT");
    expect(() => t.remove(null, obj.id, 0)).toThrowErrno("ENOENT");
    t.finalize(obj);
    expect(t.get(obj.id, "IOAS")).toBe(obj);
  });

  it("abort frees the id of an object never published", () => {
    const t = table();
    const obj = t.alloc(new TestObject());
    t.abortAndDestroy(obj);
    expect(obj.aborted).toBe(1);
    expect(t.isEmpty()).toBe(true);
    expect(published(t).id).toBe(1);
  });

  test.prop([fc.array(fc.boolean(), { maxLength: 200 })])(
    "allocation always returns the lowest free id, like xa_alloc with XA_FLAGS_ALLOC1",
    (ops) => {
      const t = table();
      const live = new Set<number>();
      for (const isAlloc of ops) {
        if (isAlloc || live.size === 0) {
          let lowest = 1;
          while (live.has(lowest)) lowest++;
          expect(published(t).id).toBe(lowest);
          live.add(lowest);
        } else {
          const victim = [...live].sort((a, b) => a - b)[Math.floor(live.size / 2)]!;
          t.remove(null, victim, 0);
          live.delete(victim);
        }
      }
    },
  );
});

describe("typed lookup", () => {
  it("a wrong type is ENOENT, ANY matches every type, and a lookup holds a user", () => {
    const t = table();
    const obj = published(t, new TestObject("HWPT_PAGING"));
    expect(() => t.get(obj.id, "IOAS")).toThrowErrno("ENOENT");
    const got = t.get(obj.id, "ANY");
    expect(got.users).toBe(2);
    t.put(got);
    expect(obj.users).toBe(1);
  });

  it("the lookup is a fault-injection site that answers ENOENT", () => {
    const t = table((site) => site === "iommufd_get_object");
    published(table());
    expect(() => t.get(1, "ANY")).toThrowErrno("ENOENT");
  });

  it("allocation failure is ENOMEM and reserves nothing", () => {
    const t = table((site) => site === "kzalloc");
    expect(() => t.alloc(new TestObject())).toThrowErrno("ENOMEM");
    expect(t.isEmpty()).toBe(true);
  });
});

describe("IOMMU_DESTROY semantics (iommufd_object_remove)", () => {
  it("is EBUSY while another object or driver holds a user, and leaves the object alive", () => {
    const t = table();
    const obj = published(t);
    obj.users++;
    expect(() => t.remove(null, obj.id, 0)).toThrowErrno("EBUSY");
    expect(obj.destroyed).toBe(0);
    expect(t.peek(obj.id)).toBe(obj);
    obj.users--;
    t.remove(null, obj.id, 0);
    expect(obj.destroyed).toBe(1);
  });

  it("destroying through the caller's own reference drops that reference first", () => {
    const t = table();
    const obj = published(t);
    obj.users++; // e.g. a driver's reference on a DEVICE
    t.remove(obj, obj.id, 0);
    expect(obj.destroyed).toBe(1);
  });

  it("a tombstone keeps the id unusable until the table goes", () => {
    const t = table();
    const obj = published(t);
    obj.users++; // the destroying driver's reference
    t.remove(obj, obj.id, REMOVE_OBJ_TOMBSTONE);
    expect(() => t.get(1, "ANY")).toThrowErrno("ENOENT");
    expect(published(t).id).toBe(2);
    t.destroyAll();
    expect(t.isEmpty()).toBe(true);
  });
});

describe("close (iommufd_fops_release)", () => {
  it("destroys leaves first whatever their ids, so dependencies drain", () => {
    const t = table();
    const ioas = published(t, new TestObject("IOAS"));
    // A HWPT created later depends on the IOAS; a device (id 3) depends on the HWPT.
    const hwpt = published(t, new TestObject("HWPT_PAGING", () => ioas.users--));
    ioas.users++;
    const dev = published(t, new TestObject("DEVICE", () => hwpt.users--));
    hwpt.users++;
    const order = t.destroyAll().map((o) => o.type);
    expect(order).toEqual(["DEVICE", "HWPT_PAGING", "IOAS"]);
    expect(dev.destroyed + hwpt.destroyed + ioas.destroyed).toBe(3);
  });

  it("a reference cycle is a model bug and is reported, not hidden", () => {
    const t = table();
    const a = published(t);
    a.users++;
    expect(() => t.destroyAll()).toThrow(/leak/);
  });
});
