// Sequence cases: QMP calls against one QEMU and no golden file — QEMU may refuse or fail the migration,
// but must not die (libvirt-sparse.md section 6).
import type { SequenceCase } from "../model.js";

export const SEQUENCE_CASES: readonly SequenceCase[] = [
  {
    kind: "sequence",
    id: "qemu.sequence.directIoOneFd",
    description:
      "multifd + mapped-ram with direct-io on and a single ordinary fd in the fdset (what a libvirt --bypass-cache restore followed by a sparse save sends): QEMU must report an error, not crash",
    checks: [
      "libvirt-sparse.md 6",
      "migration/file.c: file_send_channel_create",
      "migration/options.c: migrate_direct_io",
    ],
    requires: { run: { version: "9.1.0", reason: "direct-io is new in QEMU 9.1" } },
    params: {
      machine: "none",
      memory: "64M",
      fds: [{ set: 1, flags: ["O_WRONLY", "O_CREAT"] }],
      steps: [
        {
          execute: "migrate-set-capabilities",
          arguments: {
            capabilities: [
              { capability: "multifd", state: true },
              { capability: "mapped-ram", state: true },
            ],
          },
        },
        { execute: "migrate-set-parameters", arguments: { "multifd-channels": 1, "direct-io": true } },
        { execute: "migrate", arguments: { uri: "file:/dev/fdset/1,offset=0x1054e" } },
      ],
      waitForMigration: true,
    },
    provenance: { by: "spec", source: "libvirt-sparse.md section 6 (reproduced over plain QMP)" },
    expect: { survives: true },
  },
  {
    kind: "sequence",
    id: "qemu.sequence.oneFdNoDirectIo",
    description:
      "the same sequence with direct-io off: the save completes (control for qemu.sequence.directIoOneFd)",
    checks: ["libvirt-sparse.md 6", "spec 4.4"],
    params: {
      machine: "none",
      memory: "64M",
      fds: [{ set: 1, flags: ["O_WRONLY", "O_CREAT"] }],
      steps: [
        {
          execute: "migrate-set-capabilities",
          arguments: {
            capabilities: [
              { capability: "multifd", state: true },
              { capability: "mapped-ram", state: true },
            ],
          },
        },
        { execute: "migrate-set-parameters", arguments: { "multifd-channels": 1 } },
        { execute: "migrate", arguments: { uri: "file:/dev/fdset/1,offset=0x1054e" } },
      ],
      waitForMigration: true,
    },
    provenance: { by: "spec", source: "libvirt-sparse.md section 6" },
    expect: { survives: true },
  },
];
