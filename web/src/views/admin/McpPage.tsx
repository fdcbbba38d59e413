// PLACEHOLDER: replaced by the page's implementation before this is committed.
export function McpPage() {
  return null;
}
