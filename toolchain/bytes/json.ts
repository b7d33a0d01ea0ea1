/**
 * The project's one JSON writer: object keys sorted, `undefined` members
 * dropped, bigints as `"0x…"` strings, bytes as hex, and objects with a
 * `toJSON` (such as `InputError`) written as what it returns. Manifests,
 * `--json` reports and slot maps all go through it, so equal data always
 * gives equal text.
 */
export function stableJson(value: unknown, indent = 2): string {
  return JSON.stringify(normalize(value), null, indent);
}

function normalize(v: unknown): unknown {
  if (typeof v === "bigint") return "0x" + v.toString(16);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === "object") {
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") return normalize((v as { toJSON(): unknown }).toJSON());
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}
