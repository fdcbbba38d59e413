// PLACEHOLDER: replaced by the view's implementation before this is committed.
export function AnalyticsView() {
  return null;
}
