// PLACEHOLDER: replaced by the view's implementation before this is committed.
export function TaskDetailView() {
  return null;
}
