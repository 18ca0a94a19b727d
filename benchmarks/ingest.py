"""Ingestion throughput: reports/s end to end (parse, label, embed, upsert) vs the embedder alone.

Run::

    .venv/bin/python benchmarks/ingest.py --n 1000

Both numbers come from one process on the same texts, so machine load affects both alike. The
end-to-end run parses the shipped Indiana archive, writes the raw tier (Delta), labels, embeds
(two vectors per report) and upserts into a fresh embedded Qdrant shard in a temporary SAGE_HOME.
The embedder-alone run embeds exactly the texts the pipeline embedded. Target: end to end at
>= 70 % of the embedder-alone rate. Results go to benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

for _k, _v in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_k, _v)

from core.settings import Settings  # noqa: E402
from lakehouse.ingest.indiana import read_indiana  # noqa: E402
from lakehouse.ingest.pipeline import BATCH_SIZE, Ingestor, SourceBatch, report_row  # noqa: E402
from lakehouse.ingest.semantic_writer import abnormal_text  # noqa: E402
from models.embedder import TextEmbedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="Reports to ingest (first N by id).")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        embedder = TextEmbedder.from_settings(settings)
        embedder.embed(["warm-up sentence."])  # load weights outside both timings

        start = time.perf_counter()
        reports = list(read_indiana(limit=args.n))
        ingestor = Ingestor(settings, progress=False)
        ingestor._embedder = embedder  # same loaded model for both measurements
        batches = []
        for i in range(0, len(reports), BATCH_SIZE):
            batch = SourceBatch(files=len(reports[i : i + BATCH_SIZE]))
            for rep in reports[i : i + BATCH_SIZE]:
                batch.add("reports", report_row(rep, settings), rep.source)
            batches.append(batch)
        result = ingestor.run(batches, len(reports))
        e2e_s = time.perf_counter() - start

        texts = [r.findings or r.impression for r in reports] + [abnormal_text(r.findings, r.impression) for r in reports]
        start = time.perf_counter()
        embedder.embed(texts)
        embed_s = time.perf_counter() - start

    n = len(reports)
    numbers = {
        "reports": n,
        "end_to_end_seconds": round(e2e_s, 2),
        "end_to_end_reports_per_s": round(n / e2e_s, 1),
        "embedder_alone_seconds": round(embed_s, 2),
        "embedder_alone_reports_per_s": round(n / embed_s, 1),
        "ratio": round(embed_s / e2e_s, 3),
        "points_upserted": result.points_upserted,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
    }
    print(json.dumps(numbers, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
