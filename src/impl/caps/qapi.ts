// qapi/qobject-input-visitor.c and the generated visitors for MigrationCapabilityStatusList and
// MigrateSetParameters (QEMU 10.0): the errors QMP reports before a command's own checks run.
import {
  type Capability,
  isCapability,
  isModelledParam,
  type ModelledParams,
  PARAM_TYPES,
  type ParamType,
  SET_PARAMETERS_ORDER,
} from "./names.js";
import { UnsupportedInputError } from "./state.js";

/** A rule of the QAPI layer: stable id, source, condition and text template (for the rule table). */
export interface QapiRule {
  readonly id: string;
  readonly source: string;
  readonly when: string;
  readonly text: string;
}

const VISITOR = "qapi/qobject-input-visitor.c";

export const QAPI_RULES: readonly QapiRule[] = [
  {
    id: "qapi.caps.notArray",
    source: `${VISITOR}: qobject_input_start_list`,
    when: "capabilities is not an array",
    text: "Invalid parameter type for 'capabilities', expected: array",
  },
  {
    id: "qapi.caps.notObject",
    source: `${VISITOR}: qobject_input_start_struct`,
    when: "an element is not an object",
    text: "Invalid parameter type for 'capabilities[I]', expected: object",
  },
  {
    id: "qapi.caps.missing",
    source: `${VISITOR}: qobject_input_get_object`,
    when: "an element lacks capability or state",
    text: "Parameter 'capabilities[I].MEMBER' is missing",
  },
  {
    id: "qapi.caps.capabilityType",
    source: `${VISITOR}: qobject_input_type_str`,
    when: "capability is not a string",
    text: "Invalid parameter type for 'capabilities[I].capability', expected: string",
  },
  {
    id: "qapi.caps.unknown",
    source: "qapi/qapi-visit-core.c: input_type_enum",
    when: "capability names no MigrationCapability (the bare member name is quoted)",
    text: "Parameter 'capability' does not accept value 'NAME'",
  },
  {
    id: "qapi.caps.stateType",
    source: `${VISITOR}: qobject_input_type_bool`,
    when: "state is not a boolean",
    text: "Invalid parameter type for 'capabilities[I].state', expected: boolean",
  },
  {
    id: "qapi.caps.unexpected",
    source: `${VISITOR}: qobject_input_check_struct`,
    when: "an element has another member",
    text: "Parameter 'capabilities[I].MEMBER' is unexpected",
  },
  {
    id: "qapi.params.uint64",
    source: `${VISITOR}: qobject_input_type_uint64`,
    when: "an unsigned parameter is not an integer",
    text: "Parameter 'NAME' expects uint64",
  },
  {
    id: "qapi.params.uint8",
    source: "qapi/qapi-visit-core.c: visit_type_uint8",
    when: "a uint8 parameter is above 255 (negative integers wrap, so -1 too)",
    text: "Parameter 'NAME' expects uint8_t",
  },
  {
    id: "qapi.params.boolType",
    source: `${VISITOR}: qobject_input_type_bool`,
    when: "a boolean parameter is not a boolean",
    text: "Invalid parameter type for 'NAME', expected: boolean",
  },
  {
    id: "qapi.params.strOrNullType",
    source: "qapi/qapi-visit-common.c: visit_type_StrOrNull",
    when: "a StrOrNull parameter is neither string nor null",
    text: "Invalid parameter type for 'NAME', expected: StrOrNull",
  },
  {
    id: "qapi.params.enumType",
    source: `${VISITOR}: qobject_input_type_str`,
    when: "an enum parameter is not a string",
    text: "Invalid parameter type for 'NAME', expected: string",
  },
  {
    id: "qapi.params.enumValue",
    source: "qapi/qapi-visit-core.c: input_type_enum",
    when: "an enum parameter has an unknown value",
    text: "Parameter 'NAME' does not accept value 'VALUE'",
  },
  {
    id: "qapi.params.unexpected",
    source: `${VISITOR}: qobject_input_check_struct`,
    when: "a member MigrateSetParameters does not have",
    text: "Parameter 'NAME' is unexpected",
  },
];

export interface QapiError {
  rule: string;
  error: string;
}

export interface CapabilityStatus {
  capability: Capability;
  state: boolean;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The `capabilities` argument of migrate-set-capabilities, visited as QEMU's input visitor does. */
export function visitCapabilities(raw: unknown): CapabilityStatus[] | QapiError {
  if (!Array.isArray(raw)) {
    return {
      rule: "qapi.caps.notArray",
      error: "Invalid parameter type for 'capabilities', expected: array",
    };
  }
  const out: CapabilityStatus[] = [];
  for (const [i, element] of raw.entries()) {
    const at = `capabilities[${i}]`;
    if (!isObject(element)) {
      return { rule: "qapi.caps.notObject", error: `Invalid parameter type for '${at}', expected: object` };
    }
    const capability = element.capability;
    if (!Object.hasOwn(element, "capability")) {
      return { rule: "qapi.caps.missing", error: `Parameter '${at}.capability' is missing` };
    }
    if (typeof capability !== "string") {
      return {
        rule: "qapi.caps.capabilityType",
        error: `Invalid parameter type for '${at}.capability', expected: string`,
      };
    }
    if (!isCapability(capability)) {
      return {
        rule: "qapi.caps.unknown",
        error: `Parameter 'capability' does not accept value '${capability}'`,
      };
    }
    if (!Object.hasOwn(element, "state")) {
      return { rule: "qapi.caps.missing", error: `Parameter '${at}.state' is missing` };
    }
    if (typeof element.state !== "boolean") {
      return {
        rule: "qapi.caps.stateType",
        error: `Invalid parameter type for '${at}.state', expected: boolean`,
      };
    }
    const extra = Object.keys(element).find((k) => k !== "capability" && k !== "state");
    if (extra !== undefined) {
      return { rule: "qapi.caps.unexpected", error: `Parameter '${at}.${extra}' is unexpected` };
    }
    out.push({ capability, state: element.state });
  }
  return out;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * A JSON integer as QEMU's input visitor reads it into a uint64: integers in [-2^63, 2^64) are accepted and
 * negative ones wrap; anything else (fractions, larger numbers, other types) is not a uint64. A JS number
 * with an integer value counts as a JSON integer.
 */
export function asUint64(v: unknown): bigint | undefined {
  let n: bigint;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isInteger(v)) n = BigInt(v);
  else return undefined;
  if (n < -(1n << 63n) || n > U64_MAX) return undefined;
  return n < 0n ? n + (1n << 64n) : n;
}

type Visited = { value: ModelledParams[keyof ModelledParams]; wrapped: boolean } | QapiError;

function visitParam(name: string, type: ParamType, v: unknown): Visited {
  switch (type.kind) {
    case "uint64":
    case "uint8": {
      const n = asUint64(v);
      if (n === undefined) return { rule: "qapi.params.uint64", error: `Parameter '${name}' expects uint64` };
      const wrapped = (typeof v === "number" || typeof v === "bigint") && v < 0;
      if (type.kind === "uint64") return { value: n, wrapped };
      if (n > 255n) return { rule: "qapi.params.uint8", error: `Parameter '${name}' expects uint8_t` };
      return { value: Number(n), wrapped };
    }
    case "bool":
      if (typeof v !== "boolean") {
        return {
          rule: "qapi.params.boolType",
          error: `Invalid parameter type for '${name}', expected: boolean`,
        };
      }
      return { value: v, wrapped: false };
    case "str-or-null":
      if (v !== null && typeof v !== "string") {
        return {
          rule: "qapi.params.strOrNullType",
          error: `Invalid parameter type for '${name}', expected: StrOrNull`,
        };
      }
      // qmp_migrate_set_parameters turns null into "".
      return { value: v ?? "", wrapped: false };
    case "enum":
      if (typeof v !== "string") {
        return {
          rule: "qapi.params.enumType",
          error: `Invalid parameter type for '${name}', expected: string`,
        };
      }
      if (!type.values.includes(v)) {
        return { rule: "qapi.params.enumValue", error: `Parameter '${name}' does not accept value '${v}'` };
      }
      return { value: v as ModelledParams[keyof ModelledParams], wrapped: false };
  }
}

export interface VisitedParams {
  given: Partial<ModelledParams>;
  /** a negative integer was wrapped to an unsigned value */
  wrapped: boolean;
}

/**
 * The arguments of migrate-set-parameters, visited in schema order (not the object's order). Throws
 * `UnsupportedInputError` on reaching a real parameter the model does not cover.
 */
export function visitParameters(raw: Readonly<Record<string, unknown>>): VisitedParams | QapiError {
  const given: Record<string, unknown> = {};
  let wrapped = false;
  for (const name of SET_PARAMETERS_ORDER) {
    if (!Object.hasOwn(raw, name)) continue;
    if (!isModelledParam(name)) {
      throw new UnsupportedInputError(`migrate-set-parameters member "${name}" is not modelled`);
    }
    const visited = visitParam(name, PARAM_TYPES[name], raw[name]);
    if ("rule" in visited) return visited;
    given[name] = visited.value;
    wrapped ||= visited.wrapped;
  }
  const unexpected = Object.keys(raw).find((k) => !(SET_PARAMETERS_ORDER as readonly string[]).includes(k));
  if (unexpected !== undefined) {
    return { rule: "qapi.params.unexpected", error: `Parameter '${unexpected}' is unexpected` };
  }
  return { given: given as Partial<ModelledParams>, wrapped };
}
