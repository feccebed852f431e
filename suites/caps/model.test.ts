// The capability/parameter/transport model without QEMU. Expectations are written by hand from the spec
// (docs §5 and §8.3) and from QEMU 10.0.2 runs recorded while writing the model; the QEMU suite
// (qemu.test.ts) checks the same ground against a live QEMU.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CAPS_RULES,
  INCOMING_POST_RULES,
  INCOMING_PRE_RULES,
  MigrationSession,
  type Outcome,
  PARAMS_RULES,
  PREPARE_RULES,
  QAPI_RULES,
  SETTLE_RULES,
  START_RULES,
  TRANSPORT_RULES,
  UnsupportedInputError,
  URI_RULES,
} from "../../src/impl/caps/index.js";

const FILE = "file:/tmp/mrc-test/vm.img";

function source(...on: string[]): MigrationSession {
  const s = new MigrationSession();
  if (on.length > 0)
    expect(s.setCapabilities(Object.fromEntries(on.map((c) => [c, true])))).toEqual({ ok: true });
  return s;
}

const err = (outcome: Outcome) => (outcome.ok ? "accepted" : outcome.error);

describe("migrate-set-capabilities (migrate_caps_check, first failing rule wins)", () => {
  it.each<[string[], string]>([
    [["postcopy-ram", "x-ignore-shared"], "Postcopy is not compatible with ignore-shared"],
    [["postcopy-ram", "multifd"], "Postcopy is not yet compatible with multifd"],
    [["postcopy-ram", "multifd", "mapped-ram"], "Postcopy is not yet compatible with multifd"],
    [["mapped-ram", "xbzrle"], "Mapped-ram migration is incompatible with xbzrle"],
    [["mapped-ram", "multifd", "xbzrle"], "Multifd is not compatible with xbzrle"],
    [["mapped-ram", "postcopy-ram"], "Mapped-ram migration is incompatible with postcopy"],
    [
      ["background-snapshot", "return-path", "postcopy-ram"],
      "Background-snapshot is not compatible with postcopy-ram",
    ],
    [
      ["background-snapshot", "zero-copy-send", "validate-uuid"],
      "Background-snapshot is not compatible with validate-uuid",
    ],
    [["zero-copy-send"], "Zero copy only available for non-compressed non-TLS multifd migration"],
    [
      ["zero-copy-send", "multifd", "xbzrle"],
      "Zero copy only available for non-compressed non-TLS multifd migration",
    ],
    [["postcopy-preempt"], "Postcopy preempt requires postcopy-ram"],
    [["switchover-ack"], "Capability 'switchover-ack' requires capability 'return-path'"],
    [["dirty-limit"], "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set"],
    [
      ["dirty-limit", "auto-converge"],
      "dirty-limit conflicts with auto-converge either of then available currently",
    ],
  ])("%j → %s", (caps, text) => {
    const outcome = new MigrationSession().setCapabilities(Object.fromEntries(caps.map((c) => [c, true])));
    expect(err(outcome)).toBe(text);
  });

  it.each([
    [["mapped-ram", "multifd", "zero-copy-send"]],
    [["mapped-ram", "x-ignore-shared", "background-snapshot"]],
    [["switchover-ack", "return-path"]],
    [["mapped-ram", "release-ram", "auto-converge", "validate-uuid", "dirty-bitmaps", "late-block-activate"]],
    [["postcopy-ram", "postcopy-preempt", "return-path", "pause-before-switchover"]],
  ])("%j is accepted", (caps) => {
    expect(new MigrationSession().setCapabilities(Object.fromEntries(caps.map((c) => [c, true])))).toEqual({
      ok: true,
    });
  });

  it("checks the whole resulting set, and a refused call changes nothing", () => {
    const s = source("mapped-ram");
    expect(err(s.setCapabilities({ xbzrle: true }))).toBe("Mapped-ram migration is incompatible with xbzrle");
    expect([...s.state.caps]).toEqual(["mapped-ram"]);
    expect(s.setCapabilities({ "mapped-ram": false, xbzrle: true })).toEqual({ ok: true });
    expect([...s.state.caps]).toEqual(["xbzrle"]);
  });

  it("zero-copy-send is checked against the current compression and TLS", () => {
    const s = new MigrationSession();
    expect(s.setParameters({ "multifd-compression": "zlib" })).toEqual({ ok: true });
    expect(err(s.setCapabilities({ multifd: true, "zero-copy-send": true }))).toBe(
      "Zero copy only available for non-compressed non-TLS multifd migration",
    );
  });

  it("gives QEMU's QAPI errors for malformed lists", () => {
    const s = new MigrationSession();
    expect(err(s.setCapabilitiesRaw([{ capability: "bogus", state: true }]))).toBe(
      "Parameter 'capability' does not accept value 'bogus'",
    );
    expect(err(s.setCapabilitiesRaw([{ capability: "multifd" }]))).toBe(
      "Parameter 'capabilities[0].state' is missing",
    );
    expect(err(s.setCapabilitiesRaw([{ capability: "multifd", state: "yes" }]))).toBe(
      "Invalid parameter type for 'capabilities[0].state', expected: boolean",
    );
    expect(err(s.setCapabilitiesRaw("x"))).toBe("Invalid parameter type for 'capabilities', expected: array");
    expect(s.setCapabilitiesRaw([])).toEqual({ ok: true });
  });
});

describe("migrate-set-parameters", () => {
  it("range and type errors, in schema order", () => {
    const s = new MigrationSession();
    expect(err(s.setParameters({ "multifd-channels": 0 }))).toBe(
      "Parameter 'multifd_channels' expects a value between 1 and 255",
    );
    expect(err(s.setParameters({ "multifd-channels": 256 }))).toBe(
      "Parameter 'multifd-channels' expects uint8_t",
    );
    expect(err(s.setParameters({ "multifd-channels": -1 }))).toBe(
      "Parameter 'multifd-channels' expects uint8_t",
    );
    expect(err(s.setParameters({ "multifd-channels": "2" }))).toBe(
      "Parameter 'multifd-channels' expects uint64",
    );
    expect(err(s.setParameters({ "multifd-compression": "bogus", "multifd-channels": 300 }))).toBe(
      "Parameter 'multifd-channels' expects uint8_t",
    );
    expect(err(s.setParameters({ "multifd-channels": 0, "multifd-compression": "bogus" }))).toBe(
      "Parameter 'multifd-compression' does not accept value 'bogus'",
    );
    expect(err(s.setParameters({ "direct-io": "yes" }))).toBe(
      "Invalid parameter type for 'direct-io', expected: boolean",
    );
    expect(err(s.setParameters({ nonexistent: 1 }))).toBe("Parameter 'nonexistent' is unexpected");
    expect(s.state.params["multifd-channels"]).toBe(2);
  });

  it("QEMU 10.0 quirk: the mapped-ram check reads the current compression/TLS", () => {
    const s = source("mapped-ram");
    const first = s.setParameters({ "multifd-compression": "zlib" });
    expect(first.ok).toBe(true);
    expect(first.quirk).toMatch(/^QEMU 10.0 quirk/);
    for (const p of [{ "multifd-compression": "none" }, { "max-bandwidth": 1000 }, {}]) {
      const again = s.setParameters(p);
      expect(again).toMatchObject({
        ok: false,
        error: "Mapped-ram only available for non-compressed non-TLS multifd migration",
        rule: "params.mappedRam.compressionOrTls",
      });
      expect(again.quirk).toBeDefined();
    }
    expect(err(s.migrate(FILE))).toBe("Cannot use compression with mapped-ram");
    // only turning mapped-ram off lifts it
    expect(s.setCapabilities({ "mapped-ram": false })).toEqual({ ok: true });
    expect(s.setParameters({ "multifd-compression": "none" })).toEqual({ ok: true });
  });

  it("with TLS, even clearing tls-creds is refused; migrate names TLS before compression", () => {
    const s = source("mapped-ram");
    expect(s.setParameters({ "tls-creds": "tls0", "multifd-compression": "zlib" }).ok).toBe(true);
    expect(err(s.setParameters({ "tls-creds": null }))).toBe(
      "Mapped-ram only available for non-compressed non-TLS multifd migration",
    );
    expect(err(s.migrate(FILE))).toBe("Cannot use TLS with mapped-ram");
  });

  it("refuses to guess about parameters it does not model", () => {
    expect(() => new MigrationSession().setParameters({ "downtime-limit": 1 })).toThrow(
      UnsupportedInputError,
    );
  });
});

describe("migrate", () => {
  it("transport rules come before migrate_prepare's", () => {
    const s = source("mapped-ram", "multifd");
    for (const uri of ["tcp:127.0.0.1:1", "unix:/tmp/s", "exec:cat", "fd:3", "vsock:2:1"]) {
      expect(err(s.migrate(uri))).toBe("Migration requires seekable transport (e.g. file)");
    }
    expect(s.setParameters({ "multifd-compression": "zlib" }).ok).toBe(true);
    expect(err(s.migrate("tcp:127.0.0.1:1"))).toBe("Migration requires seekable transport (e.g. file)");
    expect(err(s.migrate(FILE))).toBe("Cannot use compression with mapped-ram");
  });

  it("multifd and postcopy-preempt need multi-channel transports", () => {
    expect(err(source("multifd").migrate(FILE))).toBe("Migration requires multi-channel URIs (e.g. tcp)");
    expect(err(source("multifd").migrate("exec:cat"))).toBe(
      "Migration requires multi-channel URIs (e.g. tcp)",
    );
    expect(err(source("postcopy-ram", "postcopy-preempt").migrate(FILE))).toBe(
      "Migration requires multi-channel URIs (e.g. tcp)",
    );
    expect(source("multifd").migrate("tcp:127.0.0.1:1").ok).toBe(true);
  });

  it("offset syntax errors are QEMU's", () => {
    const s = source("mapped-ram");
    expect(err(s.migrate(`${FILE},offset=0x20M`))).toBe("file URI has bad offset 0x20M: Invalid argument");
    expect(err(s.migrate(`${FILE},offset=-1`))).toBe(
      "file URI has bad offset -1: Numerical result out of range",
    );
    expect(err(s.migrate(`${FILE},offset=8E`))).toBe(
      "failed to truncate migration file to offset 8000000000000000: Invalid argument",
    );
  });

  it("URI syntax errors", () => {
    const s = new MigrationSession();
    expect(err(s.migrate("bogus:x"))).toBe("unknown migration protocol: bogus:x");
    expect(err(s.migrate("tcp:127.0.0.1"))).toBe("error parsing address '127.0.0.1'");
    expect(err(s.migrate("unix:"))).toBe("invalid Unix socket address");
    expect(err(s.migrate("fd:3"))).toBe("File descriptor named '3' has not been found");
  });

  it("a completed migration leaves the VM in postmigrate", () => {
    const s = source("mapped-ram", "multifd");
    expect(s.migrate(`${FILE},offset=0x1000`)).toEqual({
      ok: true,
      settlement: { status: "completed", rule: "settle.completed" },
    });
    expect(s.state.runstate).toBe("postmigrate");
    expect(err(s.migrate(FILE))).toBe("Can't migrate the vm that was paused due to previous migration");
    // the transport rules still come first
    expect(err(s.migrate("exec:cat>/dev/null"))).toBe("Migration requires seekable transport (e.g. file)");
    expect(s.needsRestart).toBe(true);
  });

  it("a migration that cannot connect fails and leaves the VM able to migrate", () => {
    const s = source("multifd");
    const o = s.migrate("tcp:127.0.0.1:1");
    expect(o.ok && o.settlement).toEqual({
      status: "failed",
      rule: "settle.connect.inet",
      error: "Failed to connect to '127.0.0.1:1': Connection refused",
    });
    expect(s.needsRestart).toBe(false);
    expect(s.migrate("tcp:127.0.0.1:1").ok).toBe(true);
  });

  it("predicts what accepted migrations do next", () => {
    const settled = (s: MigrationSession, uri: string) => {
      const o = s.migrate(uri);
      return o.ok ? o.settlement?.status : o.error;
    };
    expect(settled(source("return-path"), FILE)).toBe("failed");
    expect(settled(source("return-path"), "exec:cat>/dev/null")).toBe("device");
    expect(settled(source("pause-before-switchover"), FILE)).toBe("pre-switchover");
    expect(settled(source("background-snapshot"), FILE)).toBe("aborted");
    expect(settled(new MigrationSession({ running: true }), FILE)).toBe("completed");
    const running = new MigrationSession({ running: true });
    running.setCapabilities({ "background-snapshot": true });
    expect(settled(running, FILE)).toBe("completed");
    expect(running.state.runstate).toBe("running");
  });

  it("a running migration blocks capabilities and migrate, not parameters", () => {
    const s = source("pause-before-switchover");
    expect(s.migrate(FILE).ok).toBe(true);
    expect(err(s.setCapabilities({ xbzrle: true }))).toBe("There's a migration process in progress");
    expect(s.setParameters({ "multifd-channels": 3 })).toEqual({ ok: true });
    expect(err(s.migrate(FILE))).toBe("There's a migration process in progress");
  });

  it("an aborted QEMU answers nothing", () => {
    const s = source("background-snapshot");
    expect(s.migrate(FILE).ok).toBe(true);
    expect(s.state.alive).toBe(false);
    expect(s.setCapabilities({})).toMatchObject({ ok: false, rule: "session.dead" });
  });
});

describe("migrate-incoming", () => {
  it("needs -incoming", () => {
    expect(err(new MigrationSession().migrateIncoming("tcp:127.0.0.1:0"))).toBe(
      "'-incoming' was not specified on the command line",
    );
  });

  it("multifd must be turned on before a socket incoming starts (a transition, not a state)", () => {
    const d = new MigrationSession({ role: "destination" });
    expect(d.setCapabilities({ multifd: true })).toEqual({ ok: true });
    expect(d.migrateIncoming("tcp:127.0.0.1:0")).toEqual({ ok: true });
    expect(d.setCapabilities({ multifd: true, "return-path": true })).toEqual({ ok: true });
    expect(d.setCapabilities({ multifd: false })).toEqual({ ok: true });
    expect(err(d.setCapabilities({ multifd: true }))).toBe("Multifd must be set before incoming starts");
    // mapped-ram has no such rule
    expect(d.setCapabilities({ "mapped-ram": true })).toEqual({ ok: true });
    expect(err(d.migrateIncoming("tcp:127.0.0.1:0"))).toBe("The incoming migration has already been started");
    expect(err(d.migrate(FILE))).toBe("Guest is waiting for an incoming migration");
  });

  it("exec: and file: incoming do not count as started for that rule", () => {
    for (const uri of ["exec:true", "file:/tmp/in.img"]) {
      const d = new MigrationSession({ role: "destination" });
      expect(d.migrateIncoming(uri)).toEqual({ ok: true });
      expect(d.setCapabilities({ multifd: true })).toEqual({ ok: true });
    }
  });

  it("checks the transport like migrate, but not TLS or compression", () => {
    const d = new MigrationSession({ role: "destination" });
    d.setCapabilities({ "mapped-ram": true });
    expect(err(d.migrateIncoming("tcp:127.0.0.1:0"))).toBe(
      "Migration requires seekable transport (e.g. file)",
    );
    expect(d.setParameters({ "multifd-compression": "zlib" }).ok).toBe(true);
    expect(d.migrateIncoming("file:/tmp/in.img")).toEqual({ ok: true });
  });

  it("QEMU 10.0 quirk: a transport start failure poisons later attempts", () => {
    const d = new MigrationSession({ role: "destination" });
    const first = d.migrateIncoming("fd:foo");
    expect(err(first)).toBe("File descriptor named 'foo' has not been found");
    expect(first.quirk).toBeDefined();
    expect(err(d.migrateIncoming("bogus:x"))).toBe("unknown migration protocol: bogus:x");
    expect(err(d.migrateIncoming("tcp:127.0.0.1:0"))).toBe("Illegal migration incoming state: setup");
  });
});

describe("host environment", () => {
  it("without userfaultfd: background-snapshot and destination postcopy are refused", () => {
    const env = { userfaultfd: false };
    expect(err(new MigrationSession({ env }).setCapabilities({ "background-snapshot": true }))).toBe(
      "Background-snapshot is not supported by host kernel",
    );
    expect(new MigrationSession({ env }).setCapabilities({ "postcopy-ram": true })).toEqual({ ok: true });
    expect(
      err(new MigrationSession({ env, role: "destination" }).setCapabilities({ "postcopy-ram": true })),
    ).toMatch(/^Postcopy is not supported: /);
  });

  it("without O_DIRECT on the target file system a direct-io migration fails", () => {
    const s = new MigrationSession({ env: { oDirect: false } });
    s.setCapabilities({ "mapped-ram": true, multifd: true });
    s.setParameters({ "direct-io": true });
    const o = s.migrate(FILE);
    expect(o.ok && o.settlement).toEqual({ status: "failed", rule: "settle.directIo.unsupported" });
  });
});

describe("rule tables", () => {
  const all = [
    ...QAPI_RULES,
    ...CAPS_RULES,
    ...PARAMS_RULES,
    ...INCOMING_PRE_RULES,
    ...URI_RULES,
    ...TRANSPORT_RULES,
    ...PREPARE_RULES,
    ...START_RULES,
    ...INCOMING_POST_RULES,
    ...SETTLE_RULES,
  ];

  it("every rule has a unique dotted id, a QEMU source place and a condition", () => {
    const ids = all.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of all) {
      expect(r.id).toMatch(/^[a-z]+(\.[a-zA-Z0-9]+)+$/);
      expect(r.source).toMatch(/^[a-z]+\/[\w/-]+\.c: /);
      expect(r.when.length).toBeGreaterThan(5);
    }
  });

  it("the settlement table ends with a rule that always applies", () => {
    expect(SETTLE_RULES[SETTLE_RULES.length - 1]?.id).toBe("settle.completed");
  });

  it("src/impl/caps imports nothing outside itself", () => {
    const dir = new URL("../../src/impl/caps/", import.meta.url).pathname;
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), "utf8");
      for (const m of text.matchAll(/from "([^"]+)"/g)) expect(m[1]).toMatch(/^\.\/[\w-]+\.js$/);
    }
  });
});
