// Off the interface's thread: decode (orientation applied), downscale to a long edge of
// MAX_EDGE with high-quality resampling, encode as JPEG, and hash the bytes that will be
// kept and uploaded (the server names a photo by the SHA-256 of what it receives).
const MAX_EDGE = 2048;

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function downscale(blob, maxEdge = MAX_EDGE, quality = 0.85) {
  let bitmap = await createImageBitmap(blob, { imageOrientation: "from-image" });
  const scale = Math.min(1, maxEdge / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  if (scale < 1) {
    const full = bitmap;
    bitmap = await createImageBitmap(full, { resizeWidth: width, resizeHeight: height, resizeQuality: "high" });
    full.close();
  }
  const canvas = new OffscreenCanvas(width, height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  bitmap.close();
  const out = await canvas.convertToBlob({ type: "image/jpeg", quality });
  const buffer = await out.arrayBuffer();
  return { blob: new Blob([buffer], { type: "image/jpeg" }), sha256: await sha256Hex(buffer), width, height };
}

self.onmessage = async (event) => {
  const { id, blob, maxEdge } = event.data;
  try {
    self.postMessage({ id, ok: true, ...(await downscale(blob, maxEdge)) });
  } catch (error) {
    self.postMessage({ id, ok: false, error: String(error?.message || error) });
  }
};
