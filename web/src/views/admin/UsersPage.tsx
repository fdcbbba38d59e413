// PLACEHOLDER: replaced by the page's implementation before this is committed.
export function UsersPage() {
  return null;
}
