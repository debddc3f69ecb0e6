/**
 * The interval tree under the io_pagetable: include/linux/interval_tree.h and lib/interval_tree.c
 * (`interval_tree_iter_first/next`, `interval_tree_span_iter`), drivers/iommu/iommufd/double_span.h
 * (the span walk over two trees, implemented in pages.c) and the first-fit hole search of
 * drivers/iommu/iommufd/io_pagetable.c: iopt_alloc_iova().
 *
 * Keys are u64 IOVAs, `last` inclusive. The tree is an AVL tree with parent links (so that
 * `iterNext`/`next` walk without a stack), ordered by `start`, then `last`, then insertion order
 * (Linux breaks start ties by insertion order only). Each node carries two augments:
 *  - the largest `last` of its subtree (`__subtree_last` in Linux), which makes overlap search
 *    O(log n + k);
 *  - the largest "gap before" of its subtree, where a node's gap is the number of free indexes
 *    between its in-order predecessor's `last` and its `start` (for the leftmost node: `start`,
 *    the hole from 0). A gap only changes when a neighbour is inserted or removed. This is what
 *    lets findFirstFit() skip whole subtrees of tightly packed areas.
 *
 * Why the keys are stored twice: comparing two bigints costs a builtin call and a pointer chase
 * to a separate heap object, which at a million nodes is a cache miss per comparison. So every
 * node also holds each 64-bit key, augment and gap as two 32-bit halves in plain number fields:
 * `*H` the high half as an unsigned value, `*L` the low half minus 2^31 (an int32, so Node keeps
 * it as a small integer in the object and signed order is unsigned order). A query's bigints are
 * split once through a shared BigUint64Array, without allocating; the tree never does bigint
 * arithmetic or comparison on its hot paths.
 *
 * Caveat:
 *  - Gaps describe holes only in a tree whose nodes are disjoint (the IOAS area tree). They are
 *    maintained for every tree, but a tree with overlapping nodes has no meaningful gaps, and
 *    findFirstFit() requires its first tree to be disjoint.
 *  - Nodes must not have `start`/`last` changed while in a tree (Linux's io_pagetable removes
 *    and re-inserts an area to resize it; so must the caller).
 *  - `doubleSpans()` reports only hole/used, not which tree a used span came from (`is_used` 1
 *    or 2 in Linux); the span boundaries are Linux's, so a used span of the first tree followed
 *    by one of the second comes out as two consecutive used spans.
 */

const U64_MAX = (1n << 64n) - 1n;

// Splitting a u64 bigint into halves through a shared 8-byte buffer.
const scratch64 = new BigUint64Array(1);
const scratchU32 = new Uint32Array(scratch64.buffer);
const scratchI32 = new Int32Array(scratch64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;
/** XOR with this maps an unsigned 32-bit half to its biased int32 form and back. */
const BIAS = 0x80000000;
const TWO32 = 2 ** 32;
/** The biased low half of 0. */
const LO_ZERO = -BIAS;

/** Loads `x` (a u64) into the scratch buffer; read the halves with hiOf()/loOf(). */
function load(x: bigint): void {
  scratch64[0] = x;
}

function hiOf(): number {
  return scratchU32[HI] as number;
}

function loOf(): number {
  return (scratchI32[LO] as number) ^ BIAS;
}

/** The bigint of a split value (allocates; off the hot paths). */
function join(h: number, l: number): bigint {
  scratchU32[HI] = h;
  scratchI32[LO] = l ^ BIAS;
  return scratch64[0] as bigint;
}

/** a < b for split values. */
function lt(ah: number, al: number, bh: number, bl: number): boolean {
  return ah < bh || (ah === bh && al < bl);
}

/** `struct interval_tree_node`: one interval [start, last] with its payload. */
export class IntervalNode<T> {
  readonly start: bigint;
  readonly last: bigint;
  value: T;
  /** @internal */ _left: IntervalNode<T> | null = null;
  /** @internal */ _right: IntervalNode<T> | null = null;
  /** @internal */ _parent: IntervalNode<T> | null = null;
  /** @internal AVL height of the subtree rooted here (a leaf is 1). */ _height = 1;
  /** @internal `start`, split. */ _sH: number;
  /** @internal */ _sL: number;
  /** @internal `last`, split. */ _lH: number;
  /** @internal */ _lL: number;
  /** @internal Largest `last` in the subtree (`__subtree_last`), split. */ _mH: number;
  /** @internal */ _mL: number;
  /** @internal Free indexes between the in-order predecessor and this node, split. */ _gH = 0;
  /** @internal */ _gL = LO_ZERO;
  /** @internal Largest gap in the subtree, split. */ _xH = 0;
  /** @internal */ _xL = LO_ZERO;
  /** @internal The generation token of the tree holding the node, null once removed. */
  _owner: object | null;

  constructor(start: bigint, last: bigint, value: T, owner: object) {
    this.start = start;
    this.last = last;
    this.value = value;
    load(start);
    this._sH = hiOf();
    this._sL = loOf();
    load(last);
    this._lH = hiOf();
    this._lL = loOf();
    this._mH = this._lH;
    this._mL = this._lL;
    this._owner = owner;
  }
}

type Link<T> = IntervalNode<T> | null;

/** Sets `n`'s gap to the free indexes after `prev` (or from 0 when there is no predecessor). */
function setGap<T>(n: IntervalNode<T>, prev: Link<T>): void {
  if (prev === null) {
    n._gH = n._sH;
    n._gL = n._sL;
  } else if (!lt(prev._lH, prev._lL, n._sH, n._sL)) {
    n._gH = 0;
    n._gL = LO_ZERO;
  } else {
    // start - prev.last - 1 on the halves; the biases of the low halves cancel.
    let l = n._sL - prev._lL - 1;
    let h = n._sH - prev._lH;
    if (l < 0) {
      l += TWO32;
      h -= 1;
    }
    n._gH = h;
    n._gL = l ^ BIAS;
  }
}

function heightOf<T>(n: Link<T>): number {
  return n === null ? 0 : n._height;
}

/** Recomputes a node's height and augments from its children (RB_DECLARE_CALLBACKS_MAX). */
function pull<T>(n: IntervalNode<T>): void {
  const l = n._left;
  const r = n._right;
  let h = 0;
  let mH = n._lH;
  let mL = n._lL;
  let xH = n._gH;
  let xL = n._gL;
  if (l !== null) {
    h = l._height;
    if (lt(mH, mL, l._mH, l._mL)) {
      mH = l._mH;
      mL = l._mL;
    }
    if (lt(xH, xL, l._xH, l._xL)) {
      xH = l._xH;
      xL = l._xL;
    }
  }
  if (r !== null) {
    if (r._height > h) h = r._height;
    if (lt(mH, mL, r._mH, r._mL)) {
      mH = r._mH;
      mL = r._mL;
    }
    if (lt(xH, xL, r._xH, r._xL)) {
      xH = r._xH;
      xL = r._xL;
    }
  }
  n._height = h + 1;
  n._mH = mH;
  n._mL = mL;
  n._xH = xH;
  n._xL = xL;
}

function leftmost<T>(n: IntervalNode<T>): IntervalNode<T> {
  while (n._left !== null) n = n._left;
  return n;
}

function rightmost<T>(n: IntervalNode<T>): IntervalNode<T> {
  while (n._right !== null) n = n._right;
  return n;
}

function successor<T>(n: IntervalNode<T>): Link<T> {
  if (n._right !== null) return leftmost(n._right);
  let p = n._parent;
  while (p !== null && p._right === n) {
    n = p;
    p = p._parent;
  }
  return p;
}

function predecessor<T>(n: IntervalNode<T>): Link<T> {
  if (n._left !== null) return rightmost(n._left);
  let p = n._parent;
  while (p !== null && p._left === n) {
    n = p;
    p = p._parent;
  }
  return p;
}

/**
 * interval_tree_subtree_search(): the leftmost node of `n`'s subtree intersecting the query
 * [qs, ql] (split), given that some node of the subtree ends at or after qs.
 */
function subtreeSearch<T>(
  n: IntervalNode<T>,
  qsH: number,
  qsL: number,
  qlH: number,
  qlL: number,
): Link<T> {
  for (;;) {
    const l = n._left;
    // The leftmost node ending at or after qs decides: if it begins after ql, every node to
    // its right does too.
    if (l !== null && !lt(l._mH, l._mL, qsH, qsL)) {
      n = l;
      continue;
    }
    if (lt(qlH, qlL, n._sH, n._sL)) return null;
    if (!lt(n._lH, n._lL, qsH, qsL)) return n;
    const r = n._right;
    if (r === null) return null;
    n = r;
  }
}

/** interval_tree_iter_next() on a split query. */
function iterNextSplit<T>(
  n: IntervalNode<T>,
  qsH: number,
  qsL: number,
  qlH: number,
  qlL: number,
): Link<T> {
  let r = n._right;
  for (;;) {
    if (r !== null && !lt(r._mH, r._mL, qsH, qsL)) return subtreeSearch(r, qsH, qsL, qlH, qlL);
    // Climb until we arrive from a left child: that parent is the next node in order.
    let prev: IntervalNode<T>;
    do {
      const p = n._parent;
      if (p === null) return null;
      prev = n;
      n = p;
      r = n._right;
    } while (r === prev);
    if (lt(qlH, qlL, n._sH, n._sL)) return null;
    if (!lt(n._lH, n._lL, qsH, qsL)) return n;
  }
}

/** The first node after `n` in order whose gap is at least `need` (split). */
function nextGapNode<T>(n: IntervalNode<T>, needH: number, needL: number): Link<T> {
  for (;;) {
    const r = n._right;
    if (r !== null && !lt(r._xH, r._xL, needH, needL)) return leftmostGapNode(r, needH, needL);
    let prev: IntervalNode<T>;
    do {
      const p = n._parent;
      if (p === null) return null;
      prev = n;
      n = p;
    } while (n._right === prev);
    if (!lt(n._gH, n._gL, needH, needL)) return n;
  }
}

/** The leftmost node of `n`'s subtree with a gap of at least `need` (the subtree has one). */
function leftmostGapNode<T>(n: IntervalNode<T>, needH: number, needL: number): IntervalNode<T> {
  for (;;) {
    const l = n._left;
    if (l !== null && !lt(l._xH, l._xL, needH, needL)) n = l;
    else if (!lt(n._gH, n._gL, needH, needL)) return n;
    else n = n._right as IntervalNode<T>;
  }
}

function checkU64(x: bigint, what: string): void {
  if (x < 0n || x > U64_MAX) throw new RangeError(`${what} ${x} is not a u64`);
}

/** `struct rb_root_cached` with the interval_tree_* operations. */
export class IntervalTree<T> {
  /** @internal */ _root: Link<T> = null;
  private count = 0;
  /** Replaced by clear(), so nodes of an earlier generation are recognised as foreign. */
  private token: object = {};

  get size(): number {
    return this.count;
  }

  /** interval_tree_insert(): overlapping and duplicate intervals are allowed. */
  insert(start: bigint, last: bigint, value: T): IntervalNode<T> {
    if (start < 0n || start > last || last > U64_MAX) {
      throw new RangeError(`interval [${start}, ${last}] is not a u64 range`);
    }
    const node = new IntervalNode(start, last, value, this.token);
    const sH = node._sH;
    const sL = node._sL;
    const lH = node._lH;
    const lL = node._lL;
    let parent: Link<T> = null;
    let pred: Link<T> = null;
    let succ: Link<T> = null;
    let x = this._root;
    let goLeft = false;
    while (x !== null) {
      parent = x;
      // As interval_tree_insert() does, raise `__subtree_last` on the way down, so that the
      // retrace below can stop as soon as the heights settle.
      if (lt(x._mH, x._mL, lH, lL)) {
        x._mH = lH;
        x._mL = lL;
      }
      goLeft =
        lt(sH, sL, x._sH, x._sL) || (sH === x._sH && sL === x._sL && lt(lH, lL, x._lH, x._lL));
      if (goLeft) {
        succ = x;
        x = x._left;
      } else {
        pred = x;
        x = x._right;
      }
    }
    node._parent = parent;
    if (parent === null) this._root = node;
    else if (goLeft) parent._left = node;
    else parent._right = node;
    setGap(node, pred);
    const gH = node._gH;
    const gL = node._gL;
    node._xH = gH;
    node._xL = gL;
    for (let p = parent; p !== null && lt(p._xH, p._xL, gH, gL); p = p._parent) {
      p._xH = gH;
      p._xL = gL;
    }
    this.count++;
    // The successor is an ancestor of the new leaf; its gap now starts at the new node.
    if (succ !== null) setGap(succ, node);
    this.retrace(parent);
    if (succ !== null) this.retrace(succ);
    return node;
  }

  /** interval_tree_remove() */
  remove(node: IntervalNode<T>): void {
    if (node._owner !== this.token) throw new Error("interval node is not in this tree");
    const pred = predecessor(node);
    const succ = successor(node);
    if (succ !== null) setGap(succ, pred);
    const l = node._left;
    const r = node._right;
    if (l !== null && r !== null) {
      // Two children: the successor (leftmost of the right subtree) takes the node's place and,
      // for the early stop in retrace(), its recorded height and augments.
      const s = succ as IntervalNode<T>;
      s._height = node._height;
      s._mH = node._mH;
      s._mL = node._mL;
      s._xH = node._xH;
      s._xL = node._xL;
      let from: IntervalNode<T>;
      if (s === r) {
        from = s;
      } else {
        const sp = s._parent as IntervalNode<T>;
        sp._left = s._right;
        if (s._right !== null) s._right._parent = sp;
        s._right = r;
        r._parent = s;
        from = sp;
      }
      s._left = l;
      l._parent = s;
      this.replaceChild(node, s);
      this.retrace(from);
      this.retrace(s);
    } else {
      const parent = node._parent;
      this.replaceChild(node, l !== null ? l : r);
      this.retrace(parent);
      if (succ !== null) this.retrace(succ);
    }
    node._left = null;
    node._right = null;
    node._parent = null;
    node._owner = null;
    this.count--;
  }

  /** interval_tree_iter_first(): the first node intersecting [start, last], by start. */
  iterFirst(start: bigint, last: bigint): IntervalNode<T> | undefined {
    checkU64(start, "start");
    checkU64(last, "last");
    const root = this._root;
    if (root === null) return undefined;
    load(start);
    const qsH = hiOf();
    const qsL = loOf();
    if (lt(root._mH, root._mL, qsH, qsL)) return undefined;
    load(last);
    return subtreeSearch(root, qsH, qsL, hiOf(), loOf()) ?? undefined;
  }

  /** interval_tree_iter_next(): the node after `node` intersecting [start, last]. */
  iterNext(node: IntervalNode<T>, start: bigint, last: bigint): IntervalNode<T> | undefined {
    checkU64(start, "start");
    checkU64(last, "last");
    load(start);
    const qsH = hiOf();
    const qsL = loOf();
    load(last);
    return iterNextSplit(node, qsH, qsL, hiOf(), loOf()) ?? undefined;
  }

  /** The lowest node in order (rb_first_cached()). */
  first(): IntervalNode<T> | undefined {
    return this._root === null ? undefined : leftmost(this._root);
  }

  /** The node after `node` in order (rb_next()). */
  next(node: IntervalNode<T>): IntervalNode<T> | undefined {
    return successor(node) ?? undefined;
  }

  /** The node before `node` in order (rb_prev()). */
  prev(node: IntervalNode<T>): IntervalNode<T> | undefined {
    return predecessor(node) ?? undefined;
  }

  /** Exact lookup of the first node (in order) whose start is `start`. */
  findStart(start: bigint): IntervalNode<T> | undefined {
    checkU64(start, "start");
    load(start);
    const qH = hiOf();
    const qL = loOf();
    let x = this._root;
    let found: Link<T> = null;
    while (x !== null) {
      if (lt(qH, qL, x._sH, x._sL)) x = x._left;
      else if (lt(x._sH, x._sL, qH, qL)) x = x._right;
      else {
        found = x;
        x = x._left;
      }
    }
    return found ?? undefined;
  }

  /** The node containing `index` with the lowest start. */
  findContaining(index: bigint): IntervalNode<T> | undefined {
    return this.iterFirst(index, index);
  }

  /** Forgets every node in O(1); nodes taken out this way can no longer be removed. */
  clear(): void {
    this._root = null;
    this.count = 0;
    this.token = {};
  }

  /**
   * Checks every structural invariant (links, order, AVL balance, heights, both augments, gaps,
   * split keys, size) and throws an Error naming the first violation. O(n): for tests.
   */
  verify(): void {
    const root = this._root;
    if (root !== null && root._parent !== null) throw new Error("root has a parent");
    const at = (n: IntervalNode<T>) => `[${n.start}, ${n.last}]`;
    let count = 0;
    let prev: Link<T> = null;
    for (let n = root === null ? null : leftmost(root); n !== null; n = successor(n)) {
      count++;
      if (n._owner !== this.token) throw new Error(`${at(n)} has a foreign owner`);
      if (n.start > n.last || n.start < 0n || n.last > U64_MAX) {
        throw new Error(`${at(n)} is not a u64 range`);
      }
      if (join(n._sH, n._sL) !== n.start || join(n._lH, n._lL) !== n.last) {
        throw new Error(`${at(n)}: split keys disagree`);
      }
      if (
        prev !== null &&
        (prev.start > n.start || (prev.start === n.start && prev.last > n.last))
      ) {
        throw new Error(`order: ${at(prev)} before ${at(n)}`);
      }
      const gap = prev === null ? n.start : n.start > prev.last ? n.start - prev.last - 1n : 0n;
      if (join(n._gH, n._gL) !== gap) throw new Error(`gap of ${at(n)} is not ${gap}`);
      prev = n;
    }
    if (count !== this.count) throw new Error(`size ${this.count}, ${count} nodes reachable`);
    // Post-order: links, heights, balance and augments, with an explicit stack.
    const stack: IntervalNode<T>[] = [];
    const done = new Set<IntervalNode<T>>();
    if (root !== null) stack.push(root);
    while (stack.length > 0) {
      const n = stack[stack.length - 1] as IntervalNode<T>;
      const l = n._left;
      const r = n._right;
      if (l !== null && !done.has(l)) {
        if (l._parent !== n) throw new Error(`bad parent link under ${at(n)}`);
        stack.push(l);
        continue;
      }
      if (r !== null && !done.has(r)) {
        if (r._parent !== n) throw new Error(`bad parent link under ${at(n)}`);
        stack.push(r);
        continue;
      }
      stack.pop();
      done.add(n);
      const lh = heightOf(l);
      const rh = heightOf(r);
      if (lh - rh > 1 || rh - lh > 1) throw new Error(`unbalanced at ${at(n)}: ${lh}/${rh}`);
      if (n._height !== Math.max(lh, rh) + 1) throw new Error(`bad height at ${at(n)}`);
      let sl = n.last;
      let sg = join(n._gH, n._gL);
      for (const c of [l, r]) {
        if (c === null) continue;
        const cl = join(c._mH, c._mL);
        const cg = join(c._xH, c._xL);
        if (cl > sl) sl = cl;
        if (cg > sg) sg = cg;
      }
      if (join(n._mH, n._mL) !== sl) throw new Error(`bad subtree last at ${at(n)}`);
      if (join(n._xH, n._xL) !== sg) throw new Error(`bad subtree gap at ${at(n)}`);
    }
  }

  private replaceChild(old: IntervalNode<T>, repl: Link<T>): void {
    const p = old._parent;
    if (p === null) this._root = repl;
    else if (p._left === old) p._left = repl;
    else p._right = repl;
    if (repl !== null) repl._parent = p;
  }

  /** Rotates `x`'s right child above it; returns the new subtree root. */
  private rotateLeft(x: IntervalNode<T>): IntervalNode<T> {
    const y = x._right as IntervalNode<T>;
    const b = y._left;
    x._right = b;
    if (b !== null) b._parent = x;
    this.replaceChild(x, y);
    y._left = x;
    x._parent = y;
    pull(x);
    pull(y);
    return y;
  }

  /** Rotates `x`'s left child above it; returns the new subtree root. */
  private rotateRight(x: IntervalNode<T>): IntervalNode<T> {
    const y = x._left as IntervalNode<T>;
    const b = y._right;
    x._left = b;
    if (b !== null) b._parent = x;
    this.replaceChild(x, y);
    y._right = x;
    x._parent = y;
    pull(x);
    pull(y);
    return y;
  }

  /**
   * Walks from `x` to the root recomputing heights and augments and restoring AVL balance. It
   * stops at the first subtree whose height and augments come out as they were, since nothing
   * above can change then.
   */
  private retrace(x: Link<T>): void {
    while (x !== null) {
      const height = x._height;
      const mH = x._mH;
      const mL = x._mL;
      const xH = x._xH;
      const xL = x._xL;
      pull(x);
      let top = x;
      const bf = heightOf(x._left) - heightOf(x._right);
      if (bf > 1) {
        const l = x._left as IntervalNode<T>;
        if (heightOf(l._left) < heightOf(l._right)) this.rotateLeft(l);
        top = this.rotateRight(x);
      } else if (bf < -1) {
        const r = x._right as IntervalNode<T>;
        if (heightOf(r._right) < heightOf(r._left)) this.rotateRight(r);
        top = this.rotateLeft(x);
      }
      if (
        top._height === height &&
        top._mH === mH &&
        top._mL === mL &&
        top._xH === xH &&
        top._xL === xL
      ) {
        return;
      }
      x = top._parent;
    }
  }
}

/** One step of a span walk: a maximal hole or a used span, clipped to the walked range. */
export interface Span {
  readonly isHole: boolean;
  readonly start: bigint;
  readonly last: bigint;
}

function minU64(x: bigint, y: bigint): bigint {
  return y < x ? y : x;
}

function maxU64(x: bigint, y: bigint): bigint {
  return y > x ? y : x;
}

function checkRange(first: bigint, last: bigint): void {
  if (first < 0n || first > last || last > U64_MAX) {
    throw new RangeError(`span range [${first}, ${last}] is not a u64 range`);
  }
}

/**
 * interval_tree_span_iter (lib/interval_tree.c): [first, last] as alternating maximal holes
 * and used spans, where a used span is the union of nodes that overlap or touch.
 */
export function* spans<T>(tree: IntervalTree<T>, first: bigint, last: bigint): Generator<Span> {
  checkRange(first, last);
  let node = tree.iterFirst(first, last);
  let cursor = first;
  if (node === undefined) {
    yield { isHole: true, start: first, last };
    return;
  }
  for (;;) {
    if (node.start > cursor) {
      yield { isHole: true, start: cursor, last: node.start - 1n };
      cursor = node.start;
    }
    let end = node.last;
    let next = tree.iterNext(node, first, last);
    // interval_tree_span_iter_next_gap(): absorb nodes overlapping or adjacent to the span.
    while (next !== undefined && next.start <= end + 1n) {
      if (next.last > end) end = next.last;
      next = tree.iterNext(next, first, last);
    }
    if (end >= last) {
      yield { isHole: false, start: cursor, last };
      return;
    }
    yield { isHole: false, start: cursor, last: end };
    cursor = end + 1n;
    if (next === undefined) {
      yield { isHole: true, start: cursor, last };
      return;
    }
    node = next;
  }
}

/** The span of `it` that contains `index` (spans cover the walked range in order). */
function spanAt(it: Generator<Span>, cur: Span, index: bigint): Span {
  while (cur.last < index) {
    const r = it.next();
    if (r.done === true) throw new Error("span walk ended early");
    cur = r.value;
  }
  return cur;
}

/**
 * interval_tree_double_span_iter (drivers/iommu/iommufd/double_span.h, pages.c): spans over the
 * union of two trees. Holes are maximal holes of the union; a used span of `a` always wins and
 * is reported whole, a used span of `b` is cut where `a`'s next used span begins.
 */
export function* doubleSpans<A, B>(
  a: IntervalTree<A>,
  b: IntervalTree<B>,
  first: bigint,
  last: bigint,
): Generator<Span> {
  checkRange(first, last);
  const ia = spans(a, first, last);
  const ib = spans(b, first, last);
  const before: Span = { isHole: true, start: first, last: first - 1n };
  let sa = before;
  let sb = before;
  let cursor = first;
  for (;;) {
    sa = spanAt(ia, sa, cursor);
    sb = spanAt(ib, sb, cursor);
    let end: bigint;
    let isHole = false;
    if (!sa.isHole) end = sa.last;
    else if (!sb.isHole) end = minU64(sa.last, sb.last);
    else {
      isHole = true;
      end = minU64(sa.last, sb.last);
    }
    yield { isHole, start: cursor, last: end };
    if (end >= last) return;
    cursor = end + 1n;
  }
}

/**
 * The first-fit search of iopt_alloc_iova() inside one allowed span (drivers/iommu/iommufd/
 * io_pagetable.c: the double-span loop with __alloc_iova_check_hole()): walk the holes of the
 * union of `a` and `b` within [first, last] in ascending order and return the candidate of the
 * first one that passes __alloc_iova_check_range(), or undefined (the kernel's ENOSPC).
 *
 * The candidate of a hole [hs, hl] is s = ALIGN_UP(hs, align) | pageOffset; the ALIGN_UP must
 * not overflow u64, and the hole passes when s < hl and hl - s >= length - 1. Note the strict
 * `s < hl`: as in Linux, a hole whose candidate is its very last index never fits, even for
 * length 1.
 *
 * Precondition: the nodes of `a` (the area tree, possibly huge) are disjoint; `b` (the reserved
 * tree) may overlap itself and `a`, and is expected to be small. Holes of `a` too small for any
 * fit are skipped a subtree at a time using the gap augment, and each remaining hole of `a` is
 * cut by `b`'s nodes. The cost is O(log n) per hole of `a` that is examined: only holes at least
 * max(length, 2) long are examined, so the common case (many packed areas) is O(log n); holes
 * that are long enough but fail on alignment or reservation each add O(log n).
 *
 * `align` must be a power of two no larger than 2^63, `length` at least 1.
 */
export function findFirstFit<A, B>(
  a: IntervalTree<A>,
  b: IntervalTree<B>,
  first: bigint,
  last: bigint,
  length: bigint,
  align: bigint,
  pageOffset: bigint,
): bigint | undefined {
  checkRange(first, last);
  const fit = fitParams(length, align, pageOffset);
  // A hole [hs, hl] can only pass if hl - hs >= max(length - 1, 1).
  load(length < 2n ? 2n : length);
  const needH = hiOf();
  const needL = loOf();
  // Every index below `lo` is known not to start a fitting hole.
  let lo = first;
  let n = firstGapNodeAfter(a, lo, needH, needL);
  while (n !== null) {
    const holeStart = n.start - join(n._gH, n._gL);
    if (holeStart > last) return undefined;
    const hs = maxU64(holeStart, lo);
    const hl = minU64(n.start - 1n, last);
    const s = fitInHole(b, hs, hl, fit);
    if (s !== undefined) return s;
    const resume = fit.coveredTo >= n.start ? fit.coveredTo + 1n : n.start;
    if (resume > last) return undefined;
    if (resume === n.start) n = nextGapNode(n, needH, needL);
    else {
      // `b` covers everything up to `resume`: skip the holes of `a` it hides.
      lo = resume;
      n = firstGapNodeAfter(a, lo, needH, needL);
    }
  }
  // The trailing hole, after the node that ends last.
  let hs = lo;
  const root = a._root;
  if (root !== null) {
    const maxLast = join(root._mH, root._mL);
    if (maxLast >= last) return undefined;
    if (maxLast >= hs) hs = maxLast + 1n;
  }
  return fitInHole(b, hs, last, fit);
}

interface FitParams {
  readonly alignM1: bigint;
  readonly mask: bigint;
  readonly pageOffset: bigint;
  readonly lengthM1: bigint;
  /** Set by fitInHole(): the end of `b`'s coverage past the hole, or -1 when it stops inside. */
  coveredTo: bigint;
}

/**
 * The first node with start > lo whose gap is at least `need` (split), in one descent: along
 * the search path for `lo`, the nodes after `lo` are each node where the path turns left plus
 * its right subtree, deeper ones first; subtrees without a large enough gap are not entered.
 */
function firstGapNodeAfter<T>(
  tree: IntervalTree<T>,
  lo: bigint,
  needH: number,
  needL: number,
): Link<T> {
  let x = tree._root;
  if (x === null || lt(x._xH, x._xL, needH, needL)) return null;
  load(lo);
  const loH = hiOf();
  const loL = loOf();
  let found: Link<T> = null;
  while (x !== null) {
    const r: Link<T> = x._right;
    if (lt(loH, loL, x._sH, x._sL)) {
      if (!lt(x._gH, x._gL, needH, needL) || (r !== null && !lt(r._xH, r._xL, needH, needL))) {
        found = x;
      }
      const l: Link<T> = x._left;
      if (l === null || lt(l._xH, l._xL, needH, needL)) break;
      x = l;
    } else {
      if (r === null || lt(r._xH, r._xL, needH, needL)) break;
      x = r;
    }
  }
  if (found === null || !lt(found._gH, found._gL, needH, needL)) return found;
  return leftmostGapNode(found._right as IntervalNode<T>, needH, needL);
}

/**
 * drivers/iommu/iommufd/io_pagetable.c: __alloc_iova_check_range(): the IOVA that
 * iopt_alloc_iova() would pick in [start, last] for `length` bytes, or undefined. The caller
 * needs it for the allowed-range check that precedes the hole walk (__alloc_iova_check_used()):
 * when `pageOffset` has bits at or above `align`, `ALIGN_UP(x) | pageOffset` is not monotonic
 * in x, so that check can refuse a range inside which findFirstFit() would find a hole.
 */
export function allocIovaCheckRange(
  start: bigint,
  last: bigint,
  length: bigint,
  align: bigint,
  pageOffset: bigint,
): bigint | undefined {
  checkRange(start, last);
  return checkHole(start, last, fitParams(length, align, pageOffset));
}

function fitParams(length: bigint, align: bigint, pageOffset: bigint): FitParams {
  if (length < 1n || length > U64_MAX) throw new RangeError(`length ${length} out of range`);
  if (align < 1n || align > 1n << 63n || (align & (align - 1n)) !== 0n) {
    throw new RangeError(`alignment ${align} is not a power of two`);
  }
  checkU64(pageOffset, "page offset");
  return {
    alignM1: align - 1n,
    mask: U64_MAX ^ (align - 1n),
    pageOffset,
    lengthM1: length - 1n,
    coveredTo: -1n,
  };
}

/** __alloc_iova_check_range() with the parameters prepared. */
function checkHole(hs: bigint, hl: bigint, p: FitParams): bigint | undefined {
  const up = hs + p.alignM1;
  if (up > U64_MAX) return undefined;
  const s = (up & p.mask) | p.pageOffset;
  if (s >= hl || hl - s < p.lengthM1) return undefined;
  return s;
}

/**
 * Checks the holes that `b` leaves inside [hs, hl] (a hole of `a`), in ascending order. When
 * none fits, records in `p.coveredTo` how far a node of `b` covering the end of the hole
 * reaches, so that the caller can skip holes of `a` that `b` covers entirely.
 */
function fitInHole<T>(
  b: IntervalTree<T>,
  hs: bigint,
  hl: bigint,
  p: FitParams,
): bigint | undefined {
  p.coveredTo = -1n;
  let c = hs;
  for (let r = b.iterFirst(hs, hl); r !== undefined; r = b.iterNext(r, hs, hl)) {
    if (r.start > c) {
      const s = checkHole(c, r.start - 1n, p);
      if (s !== undefined) return s;
    }
    if (r.last >= hl) {
      p.coveredTo = r.last;
      return undefined;
    }
    if (r.last >= c) c = r.last + 1n;
  }
  return checkHole(c, hl, p);
}
