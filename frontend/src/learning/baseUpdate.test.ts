import { describe, expect, it } from "vitest";
import { baseBanner } from "./baseUpdate";

describe("newer base banner", () => {
  it("shows nothing unless a newer base is available", () => {
    expect(baseBanner(null)).toBeNull();
    expect(baseBanner({ available: false, base: null })).toBeNull();
    expect(baseBanner({ available: false, base: { id: 2, name: "base-v2", promoted_at: null, mask_ap_on_your_val: 0.5, val_images: 20 } })).toBeNull();
  });

  it("gives the new base's figures on the project's val split next to the current model's", () => {
    const b = baseBanner({
      available: true,
      base: { id: 2, name: "universal-base-v2", promoted_at: "2025-05-06T07:08:09Z", mask_ap_on_your_val: 0.41234, val_images: 20 },
      current: { id: 9, name: "wh-v3", mask_ap_on_your_val: 0.35 },
      on_base: "universal-base-v1",
    });
    expect(b).toEqual({
      title: "A newer base model is available: universal-base-v2, promoted 2025-05-06 07:08 UTC",
      figures: ["universal-base-v2: mask AP 0.412 on your val split (20 images)", "wh-v3 (now): mask AP 0.350"],
    });
  });

  it("says so when the base was not evaluated on this project", () => {
    const b = baseBanner({ available: true, base: { id: 2, name: "b2", promoted_at: null, mask_ap_on_your_val: null, val_images: null }, current: null });
    expect(b?.figures).toEqual(["b2: mask AP – on your val split"]);
  });
});
