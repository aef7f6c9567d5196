// What every view's mount function gets and gives back; main.ts routes between views.

import type { Me } from "../types";

/** A mounted view; its cleanup may be async (e.g. a final save before leaving). */
export type Cleanup = () => void | Promise<void>;

export interface ViewContext {
  me: Me;
  root: HTMLElement;
}
