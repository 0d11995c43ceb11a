/** Cedar entity UIDs in their text form, e.g. `Agent::"a1"` or `Acme::Tool::"fs/read"`. */
export interface EntityUid {
  type: string;
  id: string;
}

const UID_TEXT = /^((?:[A-Za-z_][A-Za-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)::("(?:[^"\\]|\\.)*")$/s;

/** Parses `Type::"id"`; returns null when the text is not a UID. */
export function parseUid(text: string): EntityUid | null {
  const m = UID_TEXT.exec(text.trim());
  if (!m || !m[1] || !m[2]) return null;
  try {
    const id: unknown = JSON.parse(m[2]);
    return typeof id === 'string' ? { type: m[1], id } : null;
  } catch {
    return null;
  }
}

export function uidText(uid: EntityUid): string {
  return `${uid.type}::${JSON.stringify(uid.id)}`;
}

/** Accepts Cedar JSON forms `{type,id}` and `{__entity:{type,id}}`. */
export function uidFromJson(value: unknown): EntityUid | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = ('__entity' in value ? (value as { __entity: unknown }).__entity : value) as Record<string, unknown>;
  if (typeof v !== 'object' || v === null) return null;
  return typeof v.type === 'string' && typeof v.id === 'string' ? { type: v.type, id: v.id } : null;
}

/** The canonical text of a UID (`Type::"id"` with the id JSON-escaped, no spaces); other text as it is. */
export function canonicalUidText(text: string): string {
  const u = parseUid(text);
  return u ? uidText(u) : text;
}
