// util/cutils.c: qemu_strtosz (do_strtosz with default suffix 'B', unit 1024), as used by
// migration/file.c: file_parse_offset. Written from its documented rules, not from its code.
//
// Accepted: optional C whitespace and '+'; decimal digits; `0x` hex (no fraction, no suffix); a decimal
// fraction only with a scaling suffix (`1.5k`); one suffix of B K M G T P E (any case, powers of 1024).
// Errors: EINVAL for anything unparsable or left over; ERANGE for a negative number or a value above
// 2^64-1 — but only when nothing follows it (QEMU reports trailing text as EINVAL, e.g. `-1k`).

export type StrtoszErrno = "EINVAL" | "ERANGE";

export type StrtoszResult = { ok: true; value: bigint } | { ok: false; errno: StrtoszErrno };

/** strerror(3) text of the two errnos, as QEMU prints them through error_setg_errno. */
export const STRERROR: Readonly<Record<StrtoszErrno, string>> = {
  EINVAL: "Invalid argument",
  ERANGE: "Numerical result out of range",
};

const U64_MAX = (1n << 64n) - 1n;
const C_SPACE = " \t\n\v\f\r";
const SUFFIX_SHIFT: Readonly<Record<string, bigint>> = {
  B: 0n,
  K: 10n,
  M: 20n,
  G: 30n,
  T: 40n,
  P: 50n,
  E: 60n,
};

function suffixShift(ch: string | undefined): bigint | undefined {
  return ch === undefined ? undefined : SUFFIX_SHIFT[ch.toUpperCase()];
}

function isDigit(ch: string | undefined): boolean {
  return ch !== undefined && ch >= "0" && ch <= "9";
}

function skipSpace(s: string, i: number): number {
  let at = i;
  while (at < s.length && C_SPACE.includes(s[at] as string)) at++;
  return at;
}

interface UintScan {
  /** index just past the digits (0 when nothing was converted) */
  end: number;
  value: bigint;
  errno?: StrtoszErrno;
}

/** strtoull-like scan in base 10 or 16, plus parse_uint's refusal of negative numbers. */
function scanUint(s: string, base: 10 | 16): UintScan {
  let i = skipSpace(s, 0);
  const negative = s[i] === "-";
  if (s[i] === "+" || s[i] === "-") i++;
  if (base === 16 && s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X")) {
    // "0x" without a hex digit after it converts just the "0".
    if (/[0-9a-fA-F]/.test(s[i + 2] ?? "")) i += 2;
  }
  const digitRe = base === 10 ? /[0-9]/ : /[0-9a-fA-F]/;
  const start = i;
  while (i < s.length && digitRe.test(s[i] as string)) i++;
  if (i === start) return { end: 0, value: 0n, errno: "EINVAL" };
  const value = BigInt(base === 10 ? s.slice(start, i) : `0x${s.slice(start, i)}`);
  if (value > U64_MAX) return { end: i, value: U64_MAX, errno: "ERANGE" };
  if (negative) return { end: i, value: 0n, errno: "ERANGE" };
  return { end: i, value };
}

interface FractionScan {
  value: number;
  /** characters read, leading whitespace and sign included */
  length: number;
  negative: boolean;
  /** strtod's ERANGE: non-zero digits that round to 0 */
  underflow: boolean;
}

/**
 * The decimal fraction that strtod(3) reads at `s` after QEMU has cut the copy at its first 'e' and
 * first 'E' (so no exponent). Undefined when nothing converts or the value is not finite (inf, nan).
 */
function scanFraction(s: string): FractionScan | undefined {
  let cut = s;
  const e = cut.indexOf("e");
  if (e >= 0) cut = cut.slice(0, e);
  const bigE = cut.indexOf("E");
  if (bigE >= 0) cut = cut.slice(0, bigE);
  const lead = skipSpace(cut, 0);
  const rest = cut.slice(lead);
  if (/^[+-]?(inf|nan)/i.test(rest)) return undefined;
  const m = /^([+-]?)(\d+\.?\d*|\.\d+)/.exec(rest);
  if (m === null) return undefined;
  const text = m[0];
  const value = Math.abs(Number(text));
  return {
    value,
    length: lead + text.length,
    negative: m[1] === "-",
    underflow: value === 0 && /[1-9]/.test(text),
  };
}

/** qemu_strtosz(text, NULL, &result): the whole string must be consumed. */
export function qemuStrtosz(text: string): StrtoszResult {
  const fail = (errno: StrtoszErrno, end: number): StrtoszResult =>
    // With no end pointer, anything left after the point of failure turns the error into EINVAL.
    end < text.length ? { ok: false, errno: "EINVAL" } : { ok: false, errno };

  const dec = scanUint(text, 10);
  if (dec.errno === "ERANGE") return fail("ERANGE", dec.end);
  let end = dec.end;
  let value = dec.value;
  let fraction = 0n; // 0.64 fixed point
  const next = text[end];

  if (dec.errno === undefined && value === 0n && (next === "x" || next === "X")) {
    const hex = scanUint(text, 16);
    if (hex.errno !== undefined) return fail(hex.errno, hex.end);
    end = hex.end;
    value = hex.value;
    if (text[end] === "." || suffixShift(text[end]) !== undefined) return { ok: false, errno: "EINVAL" };
  } else if (next === "." || (dec.errno !== undefined && text.includes("."))) {
    if (dec.errno === undefined && next === "." && !isDigit(text[end + 1])) {
      end += 1; // "1.k": a bare point is a zero fraction
    } else {
      const f = scanFraction(text.slice(end));
      if (f === undefined) return { ok: false, errno: "EINVAL" };
      end += f.length;
      // QEMU refuses any negative fraction, -0.0 included (signbit).
      if (f.negative) return fail("ERANGE", end);
      if (f.value === 1) {
        if (value === U64_MAX) return fail("ERANGE", end);
        value += 1n;
      } else if (f.underflow) {
        fraction = 1n;
      } else {
        fraction = BigInt(Math.trunc(f.value * 2 ** 64));
        if (fraction === 0n && f.value > 0) fraction = 1n;
      }
    }
  } else if (dec.errno !== undefined) {
    return { ok: false, errno: dec.errno };
  }

  let shift = suffixShift(text[end]);
  if (shift !== undefined) end += 1;
  else shift = 0n;
  if (shift === 0n) {
    // A fraction needs a scale.
    if (fraction !== 0n) return { ok: false, errno: "EINVAL" };
  } else {
    const scaledFraction = fraction << shift; // 64.64 fixed point
    const whole = (value << shift) + (scaledFraction >> 64n);
    const roundUp = (scaledFraction & U64_MAX) >> 63n;
    value = whole + roundUp;
    if (value > U64_MAX) return fail("ERANGE", end);
  }
  if (end < text.length) return { ok: false, errno: "EINVAL" };
  return { ok: true, value };
}
