// Draws the app's icons (a white cloud on a blue tile) into public/: the PNGs
// the web app manifest and iOS ask for, favicon.ico, and icon.svg, all from the
// one shape below. Nothing is downloaded and no image library is needed: each
// pixel is sampled 4×4 against the shape, and the PNG bytes are written with
// node's zlib. The PNGs are committed; run this again only after changing the
// shape:   npx tsx scripts/make-icons.ts
// (tests/unit/icons.test.ts fails when the committed files differ from what this draws.)
import { writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { pathToFileURL } from "node:url";

export const ICON_BLUE = "#2563eb";
const BLUE: [number, number, number] = [0x25, 0x63, 0xeb];
const WHITE: [number, number, number] = [0xff, 0xff, 0xff];

/** The cloud on a 1×1 canvas: three circles and a capsule for its flat bottom. */
const CIRCLES = [
  { cx: 0.36, cy: 0.58, r: 0.13 },
  { cx: 0.52, cy: 0.46, r: 0.18 },
  { cx: 0.67, cy: 0.6, r: 0.11 },
];
const CAPSULE = { x1: 0.36, x2: 0.67, y: 0.63, r: 0.08 };
/** Corner radius of the tile of the plain icon (the maskable one is full-bleed: the platform cuts its own shape). */
const TILE_RADIUS = 0.22;

function inCloud(x: number, y: number): boolean {
  for (const c of CIRCLES) if ((x - c.cx) ** 2 + (y - c.cy) ** 2 <= c.r ** 2) return true;
  const px = Math.min(CAPSULE.x2, Math.max(CAPSULE.x1, x));
  return (x - px) ** 2 + (y - CAPSULE.y) ** 2 <= CAPSULE.r ** 2;
}

function inRoundedTile(x: number, y: number): boolean {
  const r = TILE_RADIUS;
  const dx = Math.max(r - x, 0, x - (1 - r));
  const dy = Math.max(r - y, 0, y - (1 - r));
  return dx * dx + dy * dy <= r * r;
}

export type IconShape = "rounded" | "full-bleed";

/**
 * RGBA pixels of the icon at `size` px. "rounded": the tile with transparent
 * corners (favicons, the manifest's "any" icons). "full-bleed": the whole
 * square blue with the cloud scaled into the middle, for "maskable" icons
 * (kept inside the central circle of 40 % radius that every mask leaves) and
 * for iOS, which rounds the corners itself and shows transparency as black.
 */
export function drawIcon(size: number, shape: IconShape): Uint8Array {
  const n = 4;
  const scale = shape === "full-bleed" ? 0.8 : 1;
  const out = new Uint8Array(size * size * 4);
  for (let py = 0; py < size; py++)
    for (let px = 0; px < size; px++) {
      let r = 0,
        g = 0,
        b = 0,
        a = 0;
      for (let sy = 0; sy < n; sy++)
        for (let sx = 0; sx < n; sx++) {
          const x = (px + (sx + 0.5) / n) / size;
          const y = (py + (sy + 0.5) / n) / size;
          if (shape === "rounded" && !inRoundedTile(x, y)) continue;
          const color = inCloud(0.5 + (x - 0.5) / scale, 0.5 + (y - 0.5) / scale) ? WHITE : BLUE;
          r += color[0];
          g += color[1];
          b += color[2];
          a += 1;
        }
      const i = (py * size + px) * 4;
      // Colours averaged over the covered samples only (straight alpha), coverage as alpha.
      out[i] = a ? Math.round(r / a) : 0;
      out[i + 1] = a ? Math.round(g / a) : 0;
      out[i + 2] = a ? Math.round(b / a) : 0;
      out[i + 3] = Math.round((a / (n * n)) * 255);
    }
  return out;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGBA PNG (colour type 6), every row with filter 0. */
export function encodePng(size: number, rgba: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) raw.set(rgba.subarray(y * size * 4, (y + 1) * size * 4), y * (size * 4 + 1) + 1);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw, { level: 9 })), chunk("IEND", new Uint8Array())]);
}

/** A .ico holding PNG images (every browser since IE 11 reads those). */
export function encodeIco(pngs: Array<{ size: number; png: Buffer }>): Buffer {
  const header = Buffer.alloc(6 + 16 * pngs.length);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(pngs.length, 4);
  let offset = header.length;
  pngs.forEach(({ size, png }, i) => {
    const e = 6 + 16 * i;
    header[e] = size >= 256 ? 0 : size;
    header[e + 1] = size >= 256 ? 0 : size;
    header.writeUInt16LE(1, e + 4);
    header.writeUInt16LE(32, e + 6);
    header.writeUInt32LE(png.length, e + 8);
    header.writeUInt32LE(offset, e + 12);
    offset += png.length;
  });
  return Buffer.concat([header, ...pngs.map((p) => p.png)]);
}

/** The same drawing as vector art, for browsers that take an SVG favicon. */
export function iconSvg(): string {
  const f = (v: number) => Number((v * 64).toFixed(2));
  const circles = CIRCLES.map((c) => `<circle cx="${f(c.cx)}" cy="${f(c.cy)}" r="${f(c.r)}"/>`).join("");
  const capsule = `<rect x="${f(CAPSULE.x1 - CAPSULE.r)}" y="${f(CAPSULE.y - CAPSULE.r)}" width="${f(CAPSULE.x2 - CAPSULE.x1 + 2 * CAPSULE.r)}" height="${f(2 * CAPSULE.r)}" rx="${f(CAPSULE.r)}"/>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">` +
    `<rect width="64" height="64" rx="${f(TILE_RADIUS)}" fill="${ICON_BLUE}"/>` +
    `<g fill="#fff">${circles}${capsule}</g></svg>\n`
  );
}

/** Every file this script writes, by its path under public/. */
export function iconFiles(): Record<string, Buffer> {
  const png = (size: number, shape: IconShape) => encodePng(size, drawIcon(size, shape));
  return {
    "icons/icon-192.png": png(192, "rounded"),
    "icons/icon-512.png": png(512, "rounded"),
    "icons/maskable-192.png": png(192, "full-bleed"),
    "icons/maskable-512.png": png(512, "full-bleed"),
    "icons/apple-touch-icon.png": png(180, "full-bleed"),
    "favicon.ico": encodeIco([16, 32, 48].map((size) => ({ size, png: png(size, "rounded") }))),
    "icon.svg": Buffer.from(iconSvg()),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const publicDir = path.resolve(import.meta.dirname, "../public");
  for (const [name, bytes] of Object.entries(iconFiles())) {
    const file = path.join(publicDir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, bytes);
    console.log(`${name}: ${bytes.length} bytes`);
  }
}
