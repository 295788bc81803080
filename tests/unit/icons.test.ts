// The icons in public/ are what scripts/make-icons.ts draws (decoded pixel by
// pixel, so a different zlib cannot fail it), and the web app manifest names
// files that exist, at the sizes it claims, for both purposes a phone asks for.
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { inflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { drawIcon, iconFiles, iconSvg } from "../../scripts/make-icons";
import manifest from "~/app/manifest";

const PUBLIC = path.resolve(import.meta.dirname, "../../public");

/** Decodes an 8-bit RGBA, non-interlaced PNG (what the script writes), with all five row filters. */
function decodePng(bytes: Buffer): { width: number; height: number; rgba: Uint8Array } {
  expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let width = 0,
    height = 0;
  const idat: Buffer[] = [];
  while (offset < bytes.length) {
    const len = bytes.readUInt32BE(offset);
    const type = bytes.toString("latin1", offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9], data[12]], "8-bit RGBA, not interlaced").toEqual([8, 6, 0]);
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  const rgba = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= 4 ? rgba[y * stride + x - 4]! : 0;
      const b = y > 0 ? rgba[(y - 1) * stride + x]! : 0;
      const c = x >= 4 && y > 0 ? rgba[(y - 1) * stride + x - 4]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      rgba[y * stride + x] = (v + predictor) & 0xff;
    }
  }
  return { width, height, rgba };
}

describe("icons", () => {
  const drawn = iconFiles();

  it("every file the script draws is in public/", () => {
    for (const name of Object.keys(drawn)) expect(existsSync(path.join(PUBLIC, name)), name).toBe(true);
  });

  it("the committed PNGs are the drawing, pixel for pixel", () => {
    const expected: Record<string, [number, "rounded" | "full-bleed"]> = {
      "icons/icon-192.png": [192, "rounded"],
      "icons/icon-512.png": [512, "rounded"],
      "icons/maskable-192.png": [192, "full-bleed"],
      "icons/maskable-512.png": [512, "full-bleed"],
      "icons/apple-touch-icon.png": [180, "full-bleed"],
    };
    expect(
      Object.keys(drawn)
        .filter((n) => n.endsWith(".png"))
        .sort(),
    ).toEqual(Object.keys(expected).sort());
    for (const [name, [size, shape]] of Object.entries(expected)) {
      const png = decodePng(readFileSync(path.join(PUBLIC, name)));
      expect([png.width, png.height], name).toEqual([size, size]);
      expect(Buffer.from(png.rgba).equals(Buffer.from(drawIcon(size, shape))), `${name} differs from the drawing: run npx tsx scripts/make-icons.ts`).toBe(
        true,
      );
    }
  });

  it("maskable and iOS icons have no transparent pixel; the plain icon has transparent corners and an opaque middle", () => {
    for (const name of ["icons/maskable-512.png", "icons/apple-touch-icon.png"]) {
      const { rgba } = decodePng(readFileSync(path.join(PUBLIC, name)));
      expect(rgba.filter((_, i) => i % 4 === 3 && rgba[i] !== 255).length, name).toBe(0);
    }
    const { rgba, width } = decodePng(readFileSync(path.join(PUBLIC, "icons/icon-192.png")));
    const alpha = (x: number, y: number) => rgba[(y * width + x) * 4 + 3];
    expect(alpha(0, 0)).toBe(0);
    expect(alpha(96, 96)).toBe(255);
    // The cloud is white in the middle of the tile.
    expect([...rgba.subarray((100 * width + 96) * 4, (100 * width + 96) * 4 + 3)]).toEqual([255, 255, 255]);
  });

  it("favicon.ico holds 16, 32 and 48 px PNGs that decode", () => {
    const ico = readFileSync(path.join(PUBLIC, "favicon.ico"));
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2), ico.readUInt16LE(4)]).toEqual([0, 1, 3]);
    const sizes = [0, 1, 2].map((i) => {
      const e = 6 + 16 * i;
      const png = decodePng(ico.subarray(ico.readUInt32LE(e + 12), ico.readUInt32LE(e + 12) + ico.readUInt32LE(e + 8)));
      expect(png.width).toBe(ico[e]);
      return png.width;
    });
    expect(sizes).toEqual([16, 32, 48]);
    expect(readFileSync(path.join(PUBLIC, "icon.svg"), "utf8")).toBe(iconSvg());
  });
});

describe("web app manifest", () => {
  const m = manifest();

  it("installs standalone, opening the status page", () => {
    expect(m).toMatchObject({ display: "standalone", start_url: "/status", scope: "/", name: "Twarga Cloud" });
  });

  it("names existing PNGs at their real sizes: 192 and 512 px, each as 'any' and as 'maskable'", () => {
    const seen: string[] = [];
    for (const icon of m.icons ?? []) {
      const file = path.join(PUBLIC, icon.src);
      expect(existsSync(file), icon.src).toBe(true);
      const { width, height } = decodePng(readFileSync(file));
      expect(`${width}x${height}`, icon.src).toBe(icon.sizes);
      expect(icon.type).toBe("image/png");
      seen.push(`${icon.sizes} ${icon.purpose}`);
    }
    expect(seen.sort()).toEqual(["192x192 any", "192x192 maskable", "512x512 any", "512x512 maskable"]);
  });
});
