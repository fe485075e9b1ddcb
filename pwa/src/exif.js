// Capture time and GPS from a JPEG's EXIF, read from the original bytes before anything
// else touches them (the downscaled copy carries no metadata). Only what the visit needs:
// DateTimeOriginal (+ OffsetTimeOriginal), GPS latitude/longitude and horizontal error.
export function readExif(buffer) {
  const view = new DataView(buffer);
  if (view.byteLength < 4 || view.getUint16(0) !== 0xffd8) return {};
  let pos = 2;
  while (pos + 4 <= view.byteLength) {
    const marker = view.getUint16(pos);
    if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) break;
    const length = view.getUint16(pos + 2);
    if (marker === 0xffe1 && view.getUint32(pos + 4) === 0x45786966) return parseTiff(view, pos + 10);
    pos += 2 + length;
  }
  return {};
}

function parseTiff(view, start) {
  const little = view.getUint16(start) === 0x4949;
  const u16 = (o) => view.getUint16(start + o, little);
  const u32 = (o) => view.getUint32(start + o, little);
  const ascii = (o, n) => {
    let s = "";
    for (let i = 0; i < n; i++) {
      const c = view.getUint8(start + o + i);
      if (!c) break;
      s += String.fromCharCode(c);
    }
    return s;
  };
  const ifd = (offset) => {
    const out = {};
    if (!offset || start + offset + 2 > view.byteLength) return out;
    const n = u16(offset);
    for (let i = 0; i < n; i++) {
      const e = offset + 2 + i * 12;
      if (start + e + 12 > view.byteLength) break;
      const tag = u16(e), type = u16(e + 2), count = u32(e + 4);
      const size = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 }[type] || 1;
      const at = size * count > 4 ? u32(e + 8) : e + 8;
      if (start + at + size * count > view.byteLength) continue;
      if (type === 2) out[tag] = ascii(at, count);
      else if (type === 3) out[tag] = u16(at);
      else if (type === 4) out[tag] = u32(at);
      else if (type === 5) out[tag] = Array.from({ length: count }, (_, k) => u32(at + 8 * k) / (u32(at + 8 * k + 4) || 1));
    }
    return out;
  };
  try {
    const ifd0 = ifd(u32(4));
    const exif = ifd(ifd0[0x8769]);
    const gps = ifd(ifd0[0x8825]);
    const out = { orientation: ifd0[0x0112] || 1 };
    const when = exif[0x9003] || ifd0[0x0132];
    const m = when && /^(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)/.exec(when);
    if (m) {
      const offset = /^[+-]\d\d:\d\d$/.test(exif[0x9011] || "") ? exif[0x9011] : null;
      out.taken_at = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
      out.offset = offset;
    }
    const dms = (v) => (Array.isArray(v) && v.length === 3 ? v[0] + v[1] / 60 + v[2] / 3600 : null);
    const lat = dms(gps[2]), lon = dms(gps[4]);
    if (lat !== null && lon !== null && (lat || lon)) {
      out.location = {
        lat: Math.round((gps[1] === "S" ? -lat : lat) * 1e7) / 1e7,
        lon: Math.round((gps[3] === "W" ? -lon : lon) * 1e7) / 1e7,
        accuracy_m: Array.isArray(gps[0x1f]) ? gps[0x1f][0] : null,
      };
    }
    return out;
  } catch {
    return {};
  }
}
