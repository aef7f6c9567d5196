// Category colours as canvas fill styles, cached: one frame asks for the same few colours hundreds of times.

const rgbaCache = new Map<string, string>();

export function hexToRgba(hex: string, alpha: number): string {
  const k = `${hex}/${alpha}`;
  let v = rgbaCache.get(k);
  if (v === undefined) {
    v = parseRgba(hex, alpha);
    rgbaCache.set(k, v);
  }
  return v;
}

function parseRgba(hex: string, alpha: number): string {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex);
  if (!m) return `rgba(255,0,255,${alpha})`;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`;
}
