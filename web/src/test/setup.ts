import "@testing-library/jest-dom/vitest";
import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";

// Node's Request needs absolute URLs; the browser resolves the client's relative ones against the page.
const NodeRequest = globalThis.Request;
class PageRequest extends NodeRequest {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    super(typeof input === "string" && input.startsWith("/") ? new URL(input, window.location.origin) : input, init);
  }
}
globalThis.Request = PageRequest as typeof Request;

afterEach(() => {
  cleanup();
  localStorage.clear();
});
