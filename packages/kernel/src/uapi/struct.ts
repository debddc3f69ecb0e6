/**
 * Declarative UAPI struct layouts with the C ABI of arm64 Linux (LP64, AAPCS64), little-endian.
 *
 * A struct is declared once, as its C header declares it — field names and types in order — and
 * everything else is derived from that table: each field's offset under natural alignment, the
 * struct's alignment (its strictest field) and `sizeof` (tail padding included), Linux's
 * `offsetof`/`offsetofend`, the byte codec used at the syscall boundary, and the TypeScript type
 * of a decoded value. Handlers never do offset arithmetic of their own.
 *
 * ```ts
 * const vfio_iommu_type1_dma_map = defineStruct("vfio_iommu_type1_dma_map", [
 *   ["argsz", u32], ["flags", u32], ["vaddr", u64], ["iova", u64], ["size", u64],
 * ]);
 * vfio_iommu_type1_dma_map.size;                   // 32
 * type DmaMap = StructValue<typeof vfio_iommu_type1_dma_map>;
 * // { argsz: number; flags: number; vaddr: bigint; iova: bigint; size: bigint }
 * ```
 *
 * Values: 8/16/32-bit fields decode to `number`, 64-bit ones to `bigint` (IOVAs and `U64_MAX`
 * lengths do not fit a double); `u8` arrays decode to `Uint8Array`, other arrays to JS arrays.
 * Encoding accepts a `number` for a 64-bit field as a convenience and zero-fills whatever the
 * value leaves out, padding included, as `memset(&s, 0, sizeof(s))` followed by assignments does.
 *
 * Caveat: no unions and no bit-fields (no VFIO or IOMMUFD struct on the model's path needs
 * them; `vfio_pci_dependent_device`'s union of two `__u32` is declared as one of them), no
 * `__packed` structs, and `__aligned_u64` is plain `u64` — which it is on arm64.
 */

/** The fixed-width integer types of `include/uapi/asm-generic/int-ll64.h`. */
export type ScalarName = "u8" | "u16" | "u32" | "u64" | "s8" | "s16" | "s32" | "s64";

export interface ScalarType<N extends ScalarName = ScalarName> {
  readonly kind: "scalar";
  readonly name: N;
  readonly size: 1 | 2 | 4 | 8;
  /** Natural alignment: on arm64 every integer type is aligned to its size. */
  readonly align: number;
  readonly signed: boolean;
}

/** A fixed-length array member, `__u8 name[16]` or `struct foo items[4]`. */
export interface ArrayType<E extends ElementType = ElementType> {
  readonly kind: "array";
  readonly element: E;
  readonly length: number;
  readonly size: number;
  readonly align: number;
}

/**
 * Explicit padding that is not part of the value (it encodes as zeros and does not decode).
 * A reserved field the kernel checks (`__u32 __reserved`, "must be 0") is an ordinary field
 * instead, so that the handler can see and refuse a non-zero value.
 */
export interface PadType {
  readonly kind: "pad";
  readonly size: number;
  readonly align: 1;
}

/**
 * A trailing flexible array member (`__u8 data[]`): it has an offset but no size, so it does not
 * count in `sizeof`; how many elements follow is the caller's knowledge (`count`, `argsz`).
 */
export interface FlexType<E extends ElementType = ElementType> {
  readonly kind: "flex";
  readonly element: E;
  readonly size: 0;
  readonly align: number;
}

/** What can be an array element: an integer, an array, or a struct without a flex member. */
export type ElementType = ScalarType | ArrayType | StructLayout;

export type FieldType = ElementType | PadType | FlexType;

/** One line of a struct declaration: `[name, type]`. */
export type FieldDecl = readonly [name: string, type: FieldType];

/** A field as laid out: what docs tables, trace decoders and fuzzers read. */
export interface FieldInfo {
  readonly name: string;
  readonly offset: number;
  /** Bytes the member occupies; 0 for a flexible array member. */
  readonly size: number;
  readonly align: number;
  readonly type: FieldType;
}

// ---------------------------------------------------------------------------------------------
// Types of decoded and encodable values, inferred from the declaration.

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type ScalarValue<N extends ScalarName> = N extends "u64" | "s64" ? bigint : number;
type ScalarInput<N extends ScalarName> = N extends "u64" | "s64" ? bigint | number : number;

// `u8` elements are bytes (`Uint8Array`); the `[N] extends ["u8"]` test keeps the type of a layout
// whose element type is not known precisely (`StructLayout` unparameterised) a supertype of all.
type ElementsValue<E> =
  E extends ScalarType<infer N>
    ? "u8" extends N
      ? [N] extends ["u8"]
        ? Uint8Array
        : Uint8Array | ScalarValue<N>[]
      : ScalarValue<N>[]
    : ValueOf<E>[];
type ElementsInput<E> =
  E extends ScalarType<infer N>
    ? "u8" extends N
      ? Uint8Array | readonly ScalarInput<N>[]
      : readonly ScalarInput<N>[]
    : readonly InputOf<E>[];

/** The decoded value of a field type. */
export type ValueOf<T> =
  T extends ScalarType<infer N>
    ? ScalarValue<N>
    : T extends ArrayType<infer E>
      ? ElementsValue<E>
      : T extends FlexType<infer E>
        ? ElementsValue<E>
        : T extends StructLayout<infer F>
          ? FieldsValue<F>
          : never;

/** What `encode` accepts for a field type. */
export type InputOf<T> =
  T extends ScalarType<infer N>
    ? ScalarInput<N>
    : T extends ArrayType<infer E>
      ? ElementsInput<E>
      : T extends FlexType<infer E>
        ? ElementsInput<E>
        : T extends StructLayout<infer F>
          ? FieldsInput<F>
          : never;

type FieldsValue<F extends readonly FieldDecl[]> = Simplify<{
  -readonly [D in F[number] as D[1] extends PadType ? never : D[0]]: ValueOf<D[1]>;
}>;

type FieldsInput<F extends readonly FieldDecl[]> = Simplify<{
  -readonly [D in F[number] as D[1] extends PadType ? never : D[0]]?: InputOf<D[1]>;
}>;

/** The names declared in a struct, padding included (`offsetof` accepts those too). */
export type FieldName<F extends readonly FieldDecl[]> = F[number][0];

/** The decoded value of a struct layout: `StructValue<typeof iommu_ioas_map>`. */
export type StructValue<L> = L extends StructLayout<infer F> ? FieldsValue<F> : never;

/** What `encode` accepts for a struct layout: any subset of its fields, the rest zero. */
export type StructInput<L> = L extends StructLayout<infer F> ? FieldsInput<F> : never;

// ---------------------------------------------------------------------------------------------
// Type constructors.

function scalar<N extends ScalarName>(
  name: N,
  size: 1 | 2 | 4 | 8,
  signed: boolean,
): ScalarType<N> {
  return Object.freeze({ kind: "scalar", name, size, align: size, signed });
}

export const u8 = scalar("u8", 1, false);
export const u16 = scalar("u16", 2, false);
export const u32 = scalar("u32", 4, false);
export const u64 = scalar("u64", 8, false);
export const s8 = scalar("s8", 1, true);
export const s16 = scalar("s16", 2, true);
export const s32 = scalar("s32", 4, true);
export const s64 = scalar("s64", 8, true);

function checkElement(element: ElementType, what: string): void {
  if (element.kind === "struct" && element.flex) {
    throw new TypeError(`${what}: struct ${element.name} ends in a flexible array`);
  }
}

/** `type name[length]`. */
export function array<const E extends ElementType>(element: E, length: number): ArrayType<E> {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new TypeError(`array: bad length ${length}`);
  }
  checkElement(element, "array");
  return Object.freeze({
    kind: "array",
    element,
    length,
    size: element.size * length,
    align: element.align,
  });
}

/** `type name[]` as the last member. */
export function flex<const E extends ElementType>(element: E): FlexType<E> {
  checkElement(element, "flex");
  return Object.freeze({ kind: "flex", element, size: 0, align: element.align });
}

/** `n` bytes of explicit padding. */
export function pad(size: number): PadType {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`pad: bad size ${size}`);
  return Object.freeze({ kind: "pad", size, align: 1 });
}

// ---------------------------------------------------------------------------------------------
// The layout.

/** The values each type holds; 64-bit bounds are bigint, the others fit a double exactly. */
const SCALAR_RANGE = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffff_ffff],
  u64: [0n, 0xffff_ffff_ffff_ffffn],
  s8: [-0x80, 0x7f],
  s16: [-0x8000, 0x7fff],
  s32: [-0x8000_0000, 0x7fff_ffff],
  s64: [-0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn],
} as const satisfies Record<ScalarName, readonly [number, number] | readonly [bigint, bigint]>;

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/**
 * Where a value sits in the struct being encoded, for error messages only: built lazily, since an
 * ioctl encodes structs on its hot path and the message is needed only when a value is refused.
 */
type PathRef = string | (() => string);

function pathStr(path: PathRef): string {
  return typeof path === "string" ? path : path();
}

function memberPath(path: PathRef, member: string | undefined): string {
  return member === undefined ? pathStr(path) : `${pathStr(path)}.${member}`;
}

/**
 * Little-endian access to a byte array with DataView's method names. A DataView is costly to
 * create and every ioctl encodes and decodes structs, so this plain wrapper stands in for it.
 */
class LeView {
  constructor(readonly bytes: Uint8Array) {}
  getUint8(at: number): number {
    return this.bytes[at]!;
  }
  getInt8(at: number): number {
    return (this.bytes[at]! << 24) >> 24;
  }
  getUint16(at: number, _le: true): number {
    const b = this.bytes;
    return b[at]! | (b[at + 1]! << 8);
  }
  getInt16(at: number, le: true): number {
    return (this.getUint16(at, le) << 16) >> 16;
  }
  getInt32(at: number, _le: true): number {
    const b = this.bytes;
    return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
  }
  getUint32(at: number, le: true): number {
    return this.getInt32(at, le) >>> 0;
  }
  getBigUint64(at: number, le: true): bigint {
    const lo = this.getUint32(at, le);
    const hi = this.getUint32(at + 4, le);
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }
  getBigInt64(at: number, le: true): bigint {
    return BigInt.asIntN(64, this.getBigUint64(at, le));
  }
  setUint8(at: number, v: number): void {
    this.bytes[at] = v;
  }
  setUint16(at: number, v: number, _le: true): void {
    this.bytes[at] = v & 0xff;
    this.bytes[at + 1] = (v >>> 8) & 0xff;
  }
  setUint32(at: number, v: number, _le: true): void {
    const b = this.bytes;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    b[at + 2] = (v >>> 16) & 0xff;
    b[at + 3] = (v >>> 24) & 0xff;
  }
  setBigUint64(at: number, v: bigint, le: true): void {
    // Most u64s (lengths, addresses) fit a double exactly: split them without bigint arithmetic.
    if (v <= 0x1f_ffff_ffff_ffffn) {
      const n = Number(v);
      this.setUint32(at, n >>> 0, le);
      this.setUint32(at + 4, Math.floor(n / 0x1_0000_0000), le);
      return;
    }
    this.setUint32(at, Number(v & 0xffff_ffffn), le);
    this.setUint32(at + 4, Number((v >> 32n) & 0xffff_ffffn), le);
  }
}

function viewOf(bytes: Uint8Array): LeView {
  return new LeView(bytes);
}

function readScalar(view: LeView, at: number, type: ScalarType): number | bigint {
  switch (type.name) {
    case "u8":
      return view.getUint8(at);
    case "s8":
      return view.getInt8(at);
    case "u16":
      return view.getUint16(at, true);
    case "s16":
      return view.getInt16(at, true);
    case "u32":
      return view.getUint32(at, true);
    case "s32":
      return view.getInt32(at, true);
    case "u64":
      return view.getBigUint64(at, true);
    case "s64":
      return view.getBigInt64(at, true);
  }
}

function writeScalar(
  view: LeView,
  at: number,
  type: ScalarType,
  value: unknown,
  path: PathRef,
  member?: string,
) {
  if (typeof value === "bigint" && type.size !== 8) {
    throw new TypeError(`${memberPath(path, member)}: a ${type.name} takes a number, not a bigint`);
  }
  if (typeof value !== "bigint" && !(typeof value === "number" && Number.isSafeInteger(value))) {
    throw new TypeError(`${memberPath(path, member)}: ${String(value)} is not an integer`);
  }
  const [min, max] = SCALAR_RANGE[type.name];
  if (value < min || value > max) {
    throw new RangeError(`${memberPath(path, member)}: ${value} does not fit ${type.name}`);
  }
  // In range, so the unsigned setters store the two's-complement bytes of signed values too.
  switch (type.size) {
    case 1:
      view.setUint8(at, (value as number) & 0xff);
      return;
    case 2:
      view.setUint16(at, (value as number) & 0xffff, true);
      return;
    case 4:
      view.setUint32(at, (value as number) >>> 0, true);
      return;
    case 8:
      view.setBigUint64(
        at,
        typeof value === "bigint" && value >= 0n ? value : BigInt.asUintN(64, BigInt(value)),
        true,
      );
      return;
  }
}

/** Decodes one integer of `type` at `offset` (what `get_user()` moves). */
export function decodeScalar<T extends ScalarType>(
  bytes: Uint8Array,
  offset: number,
  type: T,
): ValueOf<T> {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + type.size > bytes.length) {
    throw new RangeError(`${type.name} at ${offset} does not fit in ${bytes.length} bytes`);
  }
  return readScalar(viewOf(bytes), offset, type) as ValueOf<T>;
}

/** Encodes one integer of `type` (what `put_user()` moves); out-of-range values are refused. */
export function encodeScalar<T extends ScalarType>(type: T, value: InputOf<T>): Uint8Array {
  const bytes = new Uint8Array(type.size);
  writeScalar(viewOf(bytes), 0, type, value, type.name);
  return bytes;
}

function readElements(
  view: LeView,
  at: number,
  element: ElementType,
  count: number,
): Uint8Array | unknown[] {
  if (element.kind === "scalar" && element.name === "u8") {
    return view.bytes.slice(at, at + count);
  }
  const out: unknown[] = new Array(count);
  for (let i = 0; i < count; i++) out[i] = readType(view, at + i * element.size, element);
  return out;
}

function readType(view: LeView, at: number, type: ElementType): unknown {
  switch (type.kind) {
    case "scalar":
      return readScalar(view, at, type);
    case "array":
      return readElements(view, at, type.element, type.length);
    case "struct":
      return type.readAt(view, at, 0);
  }
}

function writeElements(
  view: LeView,
  at: number,
  element: ElementType,
  capacity: number,
  value: unknown,
  path: PathRef,
): void {
  if (!(value instanceof Uint8Array) && !Array.isArray(value)) {
    throw new TypeError(`${pathStr(path)}: expected an array`);
  }
  const items = value as ArrayLike<unknown>;
  if (items.length > capacity) {
    throw new RangeError(`${pathStr(path)}: ${items.length} elements do not fit in ${capacity}`);
  }
  for (let i = 0; i < items.length; i++) {
    writeType(view, at + i * element.size, element, items[i], () => `${pathStr(path)}[${i}]`);
  }
}

function writeType(view: LeView, at: number, type: ElementType, value: unknown, path: PathRef) {
  switch (type.kind) {
    case "scalar":
      writeScalar(view, at, type, value, path);
      return;
    case "array":
      writeElements(view, at, type.element, type.length, value, path);
      return;
    case "struct":
      type.writeAt(view, at, value, path);
      return;
  }
}

/**
 * A struct laid out by the arm64 C ABI. Build one with `defineStruct`; the class is exported
 * for `instanceof`-free type inference (`StructValue<typeof layout>`), not for `new`.
 */
export class StructLayout<const F extends readonly FieldDecl[] = readonly FieldDecl[]> {
  readonly kind = "struct";
  /** `sizeof(struct name)`: tail padding included, a flexible array member excluded. */
  readonly size: number;
  /** `_Alignof(struct name)`: the strictest alignment of any member. */
  readonly align: number;
  /** Every member in declaration order, padding and flexible array included. */
  readonly fields: readonly FieldInfo[];
  /** The flexible array member, if the struct ends in one. */
  readonly flex: FieldInfo | undefined;
  private readonly byName: ReadonlyMap<string, FieldInfo>;

  constructor(
    /** The C tag, without `struct` (`"vfio_region_info"`). */
    readonly name: string,
    /** The declaration as written. */
    readonly decl: F,
  ) {
    const fields: FieldInfo[] = [];
    const byName = new Map<string, FieldInfo>();
    let offset = 0;
    let align = 1;
    decl.forEach(([fieldName, type], i) => {
      if (byName.has(fieldName))
        throw new TypeError(`struct ${name}: duplicate member ${fieldName}`);
      if (type.kind === "flex" && i !== decl.length - 1) {
        throw new TypeError(`struct ${name}: flexible array ${fieldName} is not the last member`);
      }
      if (type.kind === "struct" && type.flex) {
        throw new TypeError(`struct ${name}: member ${fieldName} ends in a flexible array`);
      }
      offset = roundUp(offset, type.align);
      const info: FieldInfo = { name: fieldName, offset, size: type.size, align: type.align, type };
      fields.push(info);
      byName.set(fieldName, info);
      offset += type.size;
      align = Math.max(align, type.align);
    });
    this.size = roundUp(offset, align);
    this.align = align;
    this.fields = Object.freeze(fields);
    this.byName = byName;
    const last = fields[fields.length - 1];
    this.flex = last?.type.kind === "flex" ? last : undefined;
  }

  /** `offsetof(struct name, field)`. */
  offsetof(field: FieldName<F>): number {
    return this.field(field).offset;
  }

  /**
   * `offsetofend(struct name, field)` (include/linux/stddef.h): the first byte after the
   * member, which is how VFIO computes `minsz`. For a flexible array member it equals
   * `offsetof`, the member having no size.
   */
  offsetofend(field: FieldName<F>): number {
    const info = this.field(field);
    return info.offset + info.size;
  }

  /** The layout of one member. */
  field(field: FieldName<F>): FieldInfo {
    const info = this.byName.get(field);
    if (!info) throw new TypeError(`struct ${this.name} has no member ${field}`);
    return info;
  }

  /**
   * Bytes occupied by the struct followed by `count` flexible array elements. This is the exact
   * extent, `max(sizeof, offsetof(flex) + count * sizeof(elem))`; it equals the kernel's
   * `struct_size()` for every UAPI struct whose flex member starts at `sizeof`.
   */
  sizeWithFlex(count: number): number {
    if (count === 0) return this.size;
    const flexField = this.flex;
    if (!flexField) throw new RangeError(`struct ${this.name} has no flexible array member`);
    const element = (flexField.type as FlexType).element;
    return Math.max(this.size, flexField.offset + count * element.size);
  }

  /**
   * Decodes the struct at `offset`, and `flexCount` elements of its flexible array member (an
   * empty array when not given). The bytes must hold all of it: a short user struct goes
   * through `decodePartial` or `copyStructFromUser`.
   */
  decode(bytes: Uint8Array, offset = 0, flexCount = 0): FieldsValue<F> {
    const end = offset + this.sizeWithFlex(flexCount);
    if (!Number.isSafeInteger(offset) || offset < 0 || end > bytes.length) {
      throw new RangeError(
        `struct ${this.name}: ${end - offset} bytes at ${offset} do not fit in ${bytes.length}`,
      );
    }
    return this.readAt(viewOf(bytes), offset, flexCount) as FieldsValue<F>;
  }

  /**
   * Decodes a struct of which only the first `bytes.length - offset` bytes are given (an older,
   * shorter user struct, or the `minsz` prefix VFIO copies): the missing tail reads as zeros,
   * exactly the fields the kernel zero-fills. The flexible array decodes as empty.
   */
  decodePartial(bytes: Uint8Array, offset = 0): FieldsValue<F> {
    const available = Math.max(0, bytes.length - offset);
    if (available >= this.size) return this.decode(bytes, offset);
    const full = new Uint8Array(this.size);
    full.set(bytes.subarray(offset));
    return this.decode(full);
  }

  /**
   * Encodes `value` into a new buffer of `sizeWithFlex(n)` bytes, `n` being the length of the
   * flexible array given in the value. Missing fields and all padding are zero.
   */
  encode(value: FieldsInput<F>): Uint8Array {
    const bytes = new Uint8Array(this.sizeWithFlex(this.flexLength(value)));
    this.writeAt(viewOf(bytes), 0, value, this.name);
    return bytes;
  }

  /** Encodes `value` into `bytes` at `offset`, zeroing the struct's bytes first. */
  encodeInto(bytes: Uint8Array, offset: number, value: FieldsInput<F>): void {
    const length = this.sizeWithFlex(this.flexLength(value));
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > bytes.length) {
      throw new RangeError(
        `struct ${this.name}: ${length} bytes at ${offset} do not fit in ${bytes.length}`,
      );
    }
    bytes.fill(0, offset, offset + length);
    this.writeAt(viewOf(bytes), offset, value, this.name);
  }

  private flexLength(value: object): number {
    const flexField = this.flex;
    if (!flexField) return 0;
    const items = (value as Record<string, unknown>)[flexField.name];
    if (items === undefined) return 0;
    if (!(items instanceof Uint8Array) && !Array.isArray(items)) {
      throw new TypeError(`${this.name}.${flexField.name}: expected an array`);
    }
    return items.length;
  }

  /** @internal Decodes at `at` in `view`; the caller has checked bounds. */
  readAt(view: LeView, at: number, flexCount: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const { name, offset, type } of this.fields) {
      switch (type.kind) {
        case "pad":
          break;
        case "flex":
          out[name] = readElements(view, at + offset, type.element, flexCount);
          break;
        default:
          out[name] = readType(view, at + offset, type);
      }
    }
    return out;
  }

  /** @internal Encodes at `at` in `view` (already zeroed); the caller has checked bounds. */
  writeAt(view: LeView, at: number, value: unknown, path: PathRef): void {
    if (typeof value !== "object" || value === null) {
      throw new TypeError(`${pathStr(path)}: expected a struct ${this.name} value`);
    }
    const record = value as Record<string, unknown>;
    // Every ioctl encodes structs on its hot path: walk the declared members (no per-field
    // allocation), then make sure the value names nothing else.
    let written = 0;
    for (const info of this.fields) {
      const fieldValue = record[info.name];
      if (fieldValue === undefined) continue;
      written++;
      const type = info.type;
      if (type.kind === "scalar") {
        writeScalar(view, at + info.offset, type, fieldValue, path, info.name);
      } else if (type.kind === "flex") {
        writeElements(
          view,
          at + info.offset,
          type.element,
          Number.MAX_SAFE_INTEGER,
          fieldValue,
          () => `${pathStr(path)}.${info.name}`,
        );
      } else if (type.kind === "pad") {
        throw new TypeError(`${pathStr(path)}: struct ${this.name} has no member ${info.name}`);
      } else {
        writeType(view, at + info.offset, type, fieldValue, () => `${pathStr(path)}.${info.name}`);
      }
    }
    let named = 0;
    for (const key in record) {
      if (!Object.hasOwn(record, key)) continue;
      if (record[key] !== undefined) named++;
      if (!this.byName.has(key)) {
        throw new TypeError(`${pathStr(path)}: struct ${this.name} has no member ${key}`);
      }
    }
    if (named !== written) {
      throw new TypeError(
        `${pathStr(path)}: struct ${this.name} value has members it does not declare`,
      );
    }
  }
}

/**
 * Declares `struct name { ... }` from its members in order. Type the members with the exported
 * constructors (`u32`, `array(u8, 16)`, a nested layout, `pad(4)`, `flex(u8)`); the layout and
 * the value types follow.
 */
export function defineStruct<const F extends readonly FieldDecl[]>(
  name: string,
  fields: F,
): StructLayout<F> {
  const layout = new StructLayout(name, fields);
  Object.freeze(layout);
  return layout;
}
