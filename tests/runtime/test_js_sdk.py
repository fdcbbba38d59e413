"""The official JavaScript client (@langchain/langgraph-sdk, pinned in tests/js) against a real server."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "node and npm are needed for the JS SDK compatibility test"
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=JS, check=True, timeout=300)
    return JS


async def test_the_js_sdk_streams_waits_and_reads_state(js_sdk, server_url, make_account):
    account = await make_account("js")
    process = await asyncio.create_subprocess_exec(
        shutil.which("node"), "sdk_check.mjs", server_url, account.token, cwd=js_sdk,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    seen = json.loads(stdout)
    assert seen["assistant"] == "echo"
    assert seen["events"][0] == "metadata" and "updates" in seen["events"] and "values" in seen["events"]
    assert seen["waited"] == {"messages": ["from js", "echo: from js", "again", "echo: again"], "count": 2}
    assert seen["runs"] == ["success", "success"]
    assert seen["values"] == seen["waited"]
    assert seen["found"] == [seen["thread_id"]]
