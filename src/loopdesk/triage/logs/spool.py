"""Reading log lines safely and giving each line its final template in two passes over a disk spool.

A line's template can still change after it is read (later lines generalise its cluster, clusters merge),
so the final answer for line 1 is only known at the end. Pass one learns and writes each line's cluster
id and text to a temporary file; pass two reads it back and prints the template each cluster ended with.
Memory stays bounded by the miner; the disk holds a copy of the input until the end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from loopdesk.triage.logs.templates import TemplateMiner

MAX_LINE_BYTES = 64 * 1024  # the rest of a longer line is skipped: the miner reads only its head anyway


def read_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[str]:
    """Lines of a byte stream as text (undecodable bytes replaced), each cut to `limit` bytes."""
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            return
        if not chunk.endswith(b"\n"):
            while True:  # skip the rest of an over-long line without holding it
                rest = stream.readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
        yield chunk.rstrip(b"\r\n").decode("utf-8", "replace")


def final_templates(lines: Iterable[str], miner: TemplateMiner) -> Iterator[str]:
    """The template each line's cluster has once every line has been learnt, in input order."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace", newline="\n") as spool:
        for line in lines:
            # the text is kept for lines whose cluster is dropped before the end (more than max_clusters)
            spool.write(f"{miner.add(line).cluster_id}\t{line.replace(chr(10), ' ')}\n")
        spool.seek(0)
        for record in spool:
            cluster_id, _, line = record.rstrip("\n").partition("\t")
            template = miner.template_of(int(cluster_id))
            yield template if template is not None else miner.template_for(line)
