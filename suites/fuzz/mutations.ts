// Structure-aware mutations of a valid seed, as fast-check arbitraries (FC_SEED replays them): bit and
// byte flips in every field, interesting integers (huge lengths, offsets past the end, overlapping
// regions), truncation at every structural byte and inside page data, inserted and deleted bytes, vmdesc
// JSON garbage, random bytes, and whole random files. Every mutation is data: a label a person can read
// and the primitive edits the case runner applies.
import fc from "fast-check";
import type { Field, SeedMap } from "./fields.js";

/** Primitive edits, applied in order. */
export type Edit =
  /** overwrite bytes at `at` (clipped to the file) */
  | { op: "write"; at: number; bytes: Uint8Array }
  /** cut the file to `size` bytes */
  | { op: "truncate"; size: number }
  /** remove `remove` bytes at `at` and insert `insert` there */
  | { op: "splice"; at: number; remove: number; insert: Uint8Array }
  /** the whole file is these bytes */
  | { op: "replace"; bytes: Uint8Array };

export interface Mutation {
  label: string;
  edits: Edit[];
}

export interface FuzzCase {
  /** index into the seed list */
  seed: number;
  mutations: Mutation[];
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const U64 = (1n << 64n) - 1n;

function beBytes(value: bigint, size: number, le = false): Uint8Array {
  const out = new Uint8Array(size);
  let v = BigInt.asUintN(size * 8, value);
  for (let i = 0; i < size; i++) {
    out[le ? i : size - 1 - i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function readInt(bytes: Uint8Array, f: Field): bigint {
  let v = 0n;
  const le = f.kind === "u32le";
  for (let i = 0; i < f.size; i++) {
    const b = BigInt(bytes[le ? f.at + f.size - 1 - i : f.at + i] ?? 0);
    v = (v << 8n) | b;
  }
  return v;
}

const isInt = (f: Field) =>
  f.kind === "u8" || f.kind === "u16" || f.kind === "u32" || f.kind === "u32le" || f.kind === "u64";

/** Values that break length and offset checks: edges of the width, the file size, near the old value. */
function interesting(f: Field, old: bigint, map: SeedMap): bigint[] {
  const bits = BigInt(f.size * 8);
  const max = (1n << bits) - 1n;
  const size = BigInt(map.size);
  const vs = [
    0n,
    1n,
    max,
    max - 1n,
    1n << (bits - 1n),
    (1n << (bits - 1n)) - 1n,
    old + 1n,
    old - 1n,
    old ^ 0x80n,
  ];
  if (f.size >= 4)
    vs.push(size, size + 1n, size - 1n, (size + 0xfffn) & ~0xfffn, old + 0x1000n, old - 0x1000n);
  if (f.size === 8) {
    vs.push(
      U64 - 0xfffn,
      U64 - 0xfffffn,
      1n << 53n,
      (1n << 53n) + 0x1000n,
      BigInt(Number.MAX_SAFE_INTEGER),
      1n << 32n,
      0xffffffffn,
      old + 0x100000n,
      old - 0x100000n,
      old << 1n,
    );
  }
  return vs.map((v) => BigInt.asUintN(f.size * 8, v));
}

function setInt(f: Field, value: bigint): Mutation {
  return {
    label: `${f.name} @${hex(f.at)} := ${hex(BigInt.asUintN(f.size * 8, value))}`,
    edits: [{ op: "write", at: f.at, bytes: beBytes(value, f.size, f.kind === "u32le") }],
  };
}

function flipArb(ctx: MutationContext, fields: Field[]): fc.Arbitrary<Mutation> {
  return fc.tuple(fc.constantFrom(...fields), fc.nat(), fc.nat(7)).map(([f, i, bit]) => {
    const at = f.at + (i % f.size);
    const byte = ((ctx.bytes[at] ?? 0) ^ (1 << bit)) & 0xff;
    return {
      label: `flip bit ${bit} of ${f.name} @${hex(at)}`,
      edits: [{ op: "write", at, bytes: new Uint8Array([byte]) }],
    };
  });
}

export interface MutationContext {
  bytes: Uint8Array;
  map: SeedMap;
}

/** The JSON garbage put where the vmdesc JSON was (its be32 length is made to match, or not). */
const JSON_GARBAGE: readonly string[] = [
  "",
  "{",
  "}",
  "null",
  "[]",
  "{}",
  '{"devices": 5}',
  '{"devices": [null]}',
  '{"devices": [5, "x", []]}',
  '{"page_size": 4096, "devices": [{"name": "timer", "fields": 5}]}',
  '{"page_size": 4096, "devices": [{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "x", "type": "int64", "size": 1e308}]}]}',
  '{"page_size": 4096, "devices": [{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "x", "type": "buffer", "size": -5}]}]}',
  '{"page_size": 4096, "devices": [{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "x", "type": "uint8", "size": 1, "array_len": 9007199254740993}]}]}',
  '{"page_size": 4096, "devices": [{"name": "timer", "instance_id": 0, "vmsd_name": "timer", "version": 2, "fields": [{"name": "s", "type": "struct", "size": 8, "struct": {"vmsd_name": "s", "version": 1, "fields": null}}]}]}',
  '{"page_size": 4096, "devices": [{"name": "globalstate", "instance_id": 0, "vmsd_name": "globalstate", "version": 1, "subsections": [{"vmsd_name": "x"}, 7]}]}',
  '{"__proto__": {"devices": []}, "devices": [{"__proto__": null, "name": "timer"}]}',
  `{"devices": ${"[".repeat(20000)}${"]".repeat(20000)}}`,
  `{"devices": [{"name": "timer", "fields": [${'{"name": "a", "type": "struct", "size": 1, "struct": '.repeat(3000)}{}${"}".repeat(3000)}]}]}`,
  '{"page_size": "4096", "devices": [{"name": 7, "instance_id": "0", "vmsd_name": [], "version": {}}]}',
  "\u0000\u0001\u0002",
];

function vmdescArbs(ctx: MutationContext): Array<fc.Arbitrary<Mutation>> {
  const v = ctx.map.vmdesc;
  if (!v) return [];
  const jsonAt = v.at + 5;
  const original = String.fromCharCode(...ctx.bytes.subarray(jsonAt, jsonAt + v.length));
  const replace = (label: string, text: string, lengthMatches: boolean): Mutation => {
    const json = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) json[i] = text.charCodeAt(i) & 0xff;
    const len = lengthMatches ? json.length : v.length;
    return {
      label: `vmdesc JSON := ${label}${lengthMatches ? "" : " (length field kept)"}`,
      edits: [
        { op: "truncate", size: v.at + 1 },
        {
          op: "splice",
          at: v.at + 1,
          remove: 0,
          insert: new Uint8Array([...beBytes(BigInt(len), 4), ...json]),
        },
      ],
    };
  };
  return [
    fc.tuple(fc.nat(JSON_GARBAGE.length - 1), fc.boolean()).map(([i, ok]) => {
      const t = JSON_GARBAGE[i] as string;
      return replace(JSON.stringify(t.length > 60 ? `${t.slice(0, 60)}…` : t), t, ok);
    }),
    // the real JSON with a few characters changed: keeps most of the structure, breaks types and syntax
    fc
      .array(fc.tuple(fc.nat(), fc.constantFrom(...'{}[]",:0123456789-e. a\\')), {
        minLength: 1,
        maxLength: 4,
      })
      .chain((changes) =>
        fc.boolean().map((ok) => {
          const chars = [...original];
          for (const [i, c] of changes) if (chars.length > 0) chars[i % chars.length] = c;
          return replace(`original with ${changes.length} characters changed`, chars.join(""), ok);
        }),
      ),
    // numbers in the JSON made huge, negative or fractional (sizes, versions, array_len)
    fc
      .tuple(
        fc.nat(),
        fc.constantFrom("-1", "0", "1e9", "4294967296", "9007199254740993", "0.5", "null", '"x"'),
      )
      .map(([i, n]) => {
        const nums = [...original.matchAll(/-?\d+/g)];
        const m = nums[i % Math.max(1, nums.length)];
        const text =
          m?.index === undefined
            ? original
            : original.slice(0, m.index) + n + original.slice(m.index + m[0].length);
        return replace(`number #${i % Math.max(1, nums.length)} := ${n}`, text, true);
      }),
  ];
}

function fieldsWith(ctx: MutationContext, pred: (f: Field) => boolean): Field[] {
  return ctx.map.fields.filter(pred);
}

/** Named hostile values for the fields that size and place things. */
function hostileArbs(ctx: MutationContext): Array<fc.Arbitrary<Mutation>> {
  const { map } = ctx;
  const out: Array<fc.Arbitrary<Mutation>> = [];
  const role = (r: Field["role"]) => fieldsWith(ctx, (f) => f.role === r);
  const memSize = role("memSize")[0];
  const used = role("usedLength");
  if (memSize && used.length > 0) {
    // used_length near 2^64 with MEM_SIZE raised to match, so the block list check does not catch it
    out.push(
      fc
        .tuple(
          fc.constantFrom(...used),
          fc.constantFrom(U64 - 0xfffn, 1n << 63n, 1n << 53n, (1n << 40n) + 0x1000n, 0x1000n),
        )
        .map(([f, v]) => ({
          label: `${f.name} := ${hex(v)} and MEM_SIZE := ${hex(v)}|MEM_SIZE`,
          edits: [setInt(f, v).edits[0] as Edit, setInt(memSize, (v & ~0xfffn) | 4n).edits[0] as Edit],
        })),
    );
    // MEM_SIZE alone: overflowing, short, zero, unaligned
    out.push(
      fc.constantFrom(U64, (U64 - 0xfffn) | 4n, 0x1004n, 4n, 0n, 0x1234n | 4n).map((v) => setInt(memSize, v)),
    );
  }
  const bitmapOffsets = role("bitmapOffset");
  const pagesOffsets = role("pagesOffset");
  const size = BigInt(map.size);
  const anchors = [
    size,
    size + 1n,
    (size + 0xfffn) & ~0xfffn,
    size + 0x100000n,
    1n << 63n,
    0n,
    ...map.blocks.flatMap((b) => [b.pagesOffset ?? 0n, b.bitmapOffset ?? 0n, BigInt(b.headerAt ?? 0)]),
    BigInt(map.structuralEnd) & ~0xfffn,
    BigInt(map.vmdesc?.at ?? 0) & ~0xfffn,
  ];
  for (const fs of [bitmapOffsets, pagesOffsets]) {
    if (fs.length === 0) continue;
    // past the end, inside another block's regions, over the stream itself: overlapping regions
    out.push(fc.tuple(fc.constantFrom(...fs), fc.constantFrom(...anchors)).map(([f, v]) => setInt(f, v)));
  }
  const lengths = [
    ...role("idstrLength"),
    ...role("capsCount"),
    ...role("machineLength"),
    ...role("commandLength"),
  ];
  if (lengths.length > 0) {
    out.push(
      fc
        .tuple(fc.constantFrom(...lengths), fc.constantFrom(255n, 0n, 0xffffffffn, 0xffffn, 256n))
        .map(([f, v]) => {
          const width = f.kind === "count8" ? 1 : f.size;
          return setInt({ ...f, size: width, kind: width === 1 ? "u8" : f.kind }, v);
        }),
    );
  }
  const vmdescLength = role("vmdescLength")[0];
  if (vmdescLength) {
    out.push(
      fc
        .constantFrom(
          0xffffffffn,
          0x80000000n,
          0x1000001n,
          0n,
          BigInt(map.vmdesc?.length ?? 0) + 1n,
          BigInt(map.vmdesc?.length ?? 1) - 1n,
        )
        .map((v) => setInt(vmdescLength, v)),
    );
  }
  const libvirt = role("libvirtDataLen")[0];
  if (libvirt) {
    out.push(fc.constantFrom(0xffffffffn, 0n, 1n, 0x7fffffffn, size).map((v) => setInt(libvirt, v)));
  }
  // the record type bytes: every type, the footer byte, and nonsense
  const types = role("recordType");
  if (types.length > 0) {
    out.push(
      fc
        .tuple(fc.constantFrom(...types), fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x7e, 0x7f, 0xff))
        .map(([f, t]) => ({
          label: `${f.name} @${hex(f.at)} := ${hex(t)}`,
          edits: [{ op: "write", at: f.at, bytes: new Uint8Array([t]) }],
        })),
    );
  }
  // bitmaps: all ones (bits past the last page set too), or one byte set
  const bitmaps = fieldsWith(ctx, (f) => f.kind === "bitmap");
  if (bitmaps.length > 0) {
    out.push(
      fc.constantFrom(...bitmaps).map((f) => ({
        label: `${f.name} all ones`,
        edits: [{ op: "write", at: f.at, bytes: new Uint8Array(f.size).fill(0xff) }],
      })),
    );
  }
  // capability names: mapped-ram turned into something else (the RAM section then reads as precopy)
  const caps = fieldsWith(ctx, (f) => f.name.startsWith("capabilities["));
  if (caps.length > 0) {
    out.push(
      fc
        .tuple(
          fc.constantFrom(...caps),
          fc.constantFrom("mapped-rax", "fixed-ram", "x-ignore-shared", "multifd", ""),
        )
        .map(([f, name]) => {
          const n = f.size - 1;
          const text = name.padEnd(n, "\0").slice(0, n);
          return {
            label: `${f.name} := ${JSON.stringify(text)}`,
            edits: [{ op: "write", at: f.at + 1, bytes: Uint8Array.from(text, (c) => c.charCodeAt(0)) }],
          };
        }),
    );
  }
  return out;
}

/** Truncation at a structural byte (most cases) or inside the page arrays. */
function truncateArbs(ctx: MutationContext): Array<fc.Arbitrary<Mutation>> {
  const structural = ctx.map.fields.filter((f) => f.kind !== "pages");
  const pages = ctx.map.fields.filter((f) => f.kind === "pages");
  const out: Array<fc.Arbitrary<Mutation>> = [
    fc.tuple(fc.constantFrom(...structural), fc.nat()).map(([f, i]) => {
      const at = f.at + (i % (f.size + 1));
      return { label: `truncate at ${hex(at)} (in ${f.name})`, edits: [{ op: "truncate", size: at }] };
    }),
  ];
  if (pages.length > 0) {
    out.push(
      fc.tuple(fc.constantFrom(...pages), fc.nat()).map(([f, i]) => {
        const at = f.at + (i % f.size);
        return { label: `truncate at ${hex(at)} (in ${f.name})`, edits: [{ op: "truncate", size: at }] };
      }),
    );
  }
  return out;
}

/** The mutations one seed can get. */
export function mutationArb(ctx: MutationContext): fc.Arbitrary<Mutation> {
  const structural = ctx.map.fields.filter((f) => f.kind !== "pages");
  const ints = structural.filter(isInt);
  const arbs: Array<fc.WeightedArbitrary<Mutation>> = [
    { weight: 4, arbitrary: flipArb(ctx, structural) },
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom(...ints), fc.nat()).map(([f, i]) => {
        const vs = interesting(f, readInt(ctx.bytes, f), ctx.map);
        return setInt(f, vs[i % vs.length] as bigint);
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...ints), fc.bigInt({ min: 0n, max: U64 }))
        .map(([f, v]) => setInt(f, v)),
    },
    ...hostileArbs(ctx).map((arbitrary) => ({ weight: 3, arbitrary })),
    ...truncateArbs(ctx).map((arbitrary) => ({ weight: 3, arbitrary })),
    ...vmdescArbs(ctx).map((arbitrary) => ({ weight: 2, arbitrary })),
    {
      // bytes inserted or deleted inside a structure: everything after it shifts
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...structural),
          fc.nat(),
          fc.integer({ min: -16, max: 16 }),
          fc.uint8Array({ maxLength: 16 }),
        )
        .map(([f, i, n, ins]) => {
          const at = f.at + (i % f.size);
          return n < 0
            ? {
                label: `delete ${-n} bytes at ${hex(at)} (in ${f.name})`,
                edits: [{ op: "splice", at, remove: -n, insert: new Uint8Array(0) }],
              }
            : {
                label: `insert ${ins.length} bytes at ${hex(at)} (in ${f.name})`,
                edits: [{ op: "splice", at, remove: 0, insert: ins }],
              };
        }),
    },
    {
      // random bytes anywhere, page data included
      weight: 2,
      arbitrary: fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([i, b]) => {
        const at = i % Math.max(1, ctx.map.size);
        return { label: `${b.length} random bytes at ${hex(at)}`, edits: [{ op: "write", at, bytes: b }] };
      }),
    },
    {
      // device payloads and page records overwritten
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(
            ...(structural.filter((f) => f.kind === "payload").length > 0
              ? structural.filter((f) => f.kind === "payload")
              : structural),
          ),
          fc.nat(),
          fc.uint8Array({ minLength: 1, maxLength: 8 }),
        )
        .map(([f, i, b]) => {
          const at = f.at + (i % f.size);
          return {
            label: `${b.length} random bytes in ${f.name} @${hex(at)}`,
            edits: [{ op: "write", at, bytes: b }],
          };
        }),
    },
  ];
  return fc.oneof(...arbs);
}

/** Whole files of random bytes, some starting like a migration stream or a libvirt image. */
export const randomFileArb: fc.Arbitrary<Mutation> = fc
  .tuple(
    fc.constantFrom(
      "",
      "QEVM\0\0\0\x03",
      "QEVM\0\0\0\x03\x07",
      "QEVM\0\0\0\x03\x07\0\0\0\x04none\x01",
      "LibvirtQemudSave",
    ),
    fc.uint8Array({ maxLength: 2048 }),
  )
  .map(([prefix, rest]) => {
    const bytes = new Uint8Array(prefix.length + rest.length);
    for (let i = 0; i < prefix.length; i++) bytes[i] = prefix.charCodeAt(i);
    bytes.set(rest, prefix.length);
    return {
      label: `random file of ${bytes.length} bytes${prefix ? ` after ${JSON.stringify(prefix)}` : ""}`,
      edits: [{ op: "replace", bytes }],
    };
  });

/** A case: a seed (by weight) and one to three mutations of it; now and then a whole random file. */
export function caseArb(
  seeds: ReadonlyArray<{ weight: number; ctx: MutationContext }>,
): fc.Arbitrary<FuzzCase> {
  const perSeed = seeds.map((s, i) => ({
    weight: s.weight,
    arbitrary: fc
      .array(mutationArb(s.ctx), { minLength: 1, maxLength: 3 })
      .map((mutations): FuzzCase => ({ seed: i, mutations })),
  }));
  return fc.oneof(...perSeed, {
    weight: 1,
    arbitrary: randomFileArb.map((m): FuzzCase => ({ seed: 0, mutations: [m] })),
  });
}

/** Applies the edits to a copy of `seed` (for callers that want the bytes, e.g. to pin a finding). */
export function applyEdits(seed: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let b = seed.slice();
  for (const e of edits) {
    if (e.op === "replace") b = e.bytes.slice();
    else if (e.op === "truncate") b = b.slice(0, Math.min(e.size, b.length));
    else if (e.op === "write") {
      const n = Math.max(0, Math.min(e.bytes.length, b.length - e.at));
      if (n > 0) b.set(e.bytes.subarray(0, n), e.at);
    } else {
      const at = Math.min(e.at, b.length);
      const out = new Uint8Array(b.length - Math.min(e.remove, b.length - at) + e.insert.length);
      out.set(b.subarray(0, at));
      out.set(e.insert, at);
      out.set(b.subarray(Math.min(b.length, at + e.remove)), at + e.insert.length);
      b = out;
    }
  }
  return b;
}
