"""The worker child's metrics joined to the API's: same-named families merged, the child's samples labelled
`process="worker"`; an unreadable answer leaves the API's own."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from loopdesk.core.metrics import RUNS_FINISHED
from loopdesk.system.worker_metrics import combined_exposition, read_socket, socket_served


def _child_text() -> str:
    registry = CollectorRegistry()
    finished = Counter("loopdesk_runs_finished_total", "Runs that ended", ["graph_id", "status"], registry=registry)
    finished.labels("agent", "success").inc(3)
    Counter("loopdesk_worker_only_total", "A family only the worker has", registry=registry).inc()
    return generate_latest(registry).decode()


def test_the_child_s_samples_join_the_api_s_families_labelled_as_the_worker_s():
    RUNS_FINISHED.labels("agent", "success").inc()
    own = {
        (s.labels["graph_id"], s.labels["status"]): s.value
        for s in RUNS_FINISHED.collect()[0].samples
        if s.name.endswith("_total")
    }
    text = combined_exposition(_child_text()).decode()
    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), "one family per name"
    by_name = {f.name: f for f in families}
    finished = by_name["loopdesk_runs_finished"].samples
    worker = [s for s in finished if s.labels.get("process") == "worker" and s.name.endswith("_total")]
    api = [s for s in finished if "process" not in s.labels and s.name.endswith("_total")]
    assert [(s.labels["graph_id"], s.value) for s in worker] == [("agent", 3.0)]
    mine = {(s.labels["graph_id"], s.labels["status"]): s.value for s in api}
    assert mine[("agent", "success")] == own[("agent", "success")]
    assert [s.labels for s in by_name["loopdesk_worker_only"].samples if s.name.endswith("_total")] == [
        {"process": "worker"}
    ]


def test_an_unreadable_child_answer_leaves_the_api_s_own_metrics():
    own = {f.name for f in text_string_to_metric_families(generate_latest(REGISTRY).decode())}
    for child in ("this is { not the text format", None):
        families = list(text_string_to_metric_families(combined_exposition(child).decode()))
        assert {f.name for f in families} == own
        assert not any("process" in s.labels for f in families for s in f.samples)


async def test_the_socket_answers_with_this_process_s_metrics_and_is_private(tmp_path):
    path = tmp_path / "worker.sock"
    async with socket_served(path):
        assert path.stat().st_mode & 0o777 == 0o600
        text = await read_socket(path)
    assert text is not None and "loopdesk_runs_finished_total" in text
    assert not path.exists()
    assert await read_socket(path) is None  # gone: the scrape goes on without it
