"""Blob split/upload/merge throughput and memory, as ratios measured in one run against Azurite.

    python benchmarks/blob_split_merge.py --size-mib 1024 --chunks 1000 --rounds 3

Phases (each in its own process, so peak RSS is the phase's own):

* ``ceiling``: Azurite's ceiling on this machine: ``chunks`` blobs of ``size/chunks`` bytes uploaded,
  then downloaded, by the raw async client with 16 requests in flight and nothing else going on. It
  is measured twice per round: with the client as constructed by default (``default``), and with the
  transport settings the provider's hooks use (``tuned``: the environment, which sets no proxy here,
  is read once instead of on every request). The tuned one is the higher, stricter ceiling.
* ``split``: :class:`BlobSplitOperator` (lines, ``chunk_count=chunks``) on a text file of ``size``.
* ``naive``: the naive way: write the chunk files to disk, then upload them one by one (sync client);
  run once, after the rounds.
* ``merge``: :class:`BlobMergeOperator` of the ``chunks`` shards to a local file (with the output's MD5,
  the default, then with ``checksum=False``), then to a blob.

The machine is shared and Azurite's own rate moves by 20-30 % from one minute to the next, so the
phases run in ``rounds`` interleaved rounds (ceilings, split, merge) and every ratio compares a phase
with the ceilings of its own round; the summary gives the median and the range over the rounds.

Prints MiB/s, ratios to the ceilings, and peak RSS (with, in brackets, the process's RSS after
imports, so the growth is what the transfer itself used). Timers start after imports, the SDK
included (a task pays that import once, about 1 s); operator phases include everything else: reading
the connection, the record-end scan, listing, the manifest.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CONCURRENCY = 16


def rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / MiB


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _TI:
    dag_id, run_id, task_id, map_index = "bench", "bench-run", "bench", -1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def make_input(path: Path, size: int) -> str:
    """A text file of ``size`` bytes of ~100-byte lines; returns its base64 MD5."""
    digest = hashlib.md5(usedforsecurity=False)
    line_no = 0
    written = 0
    with open(path, "wb") as f:
        while written < size:
            lines = b"".join(
                f"{line_no + i:012d},{'abcdefghij' * 8},{(line_no + i) % 977:05d}\n".encode()
                for i in range(10_000)
            )
            line_no += 10_000
            lines = lines[: size - written]
            if written + len(lines) >= size and not lines.endswith(b"\n"):
                lines = lines[:-1] + b"\n"
            f.write(lines)
            digest.update(lines)
            written += len(lines)
    return base64.b64encode(digest.digest()).decode()


# -- phases (run in child processes) ----------------------------------------------------------------
async def _ceiling(args: argparse.Namespace) -> dict[str, Any]:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob.aio import BlobServiceClient

    size = args.size_mib * MiB // args.chunks
    payload = os.urandom(size)
    base = rss_mib()
    cred = AzureNamedKeyCredential(args.account, args.key)
    tuned: dict[str, Any] = {"use_env_settings": False} if args.ceiling_client == "tuned" else {}
    async with BlobServiceClient(
        args.blob_url, credential=cred, max_single_put_size=8 * MiB, **tuned
    ) as client:
        container = client.get_container_client("ceiling")
        await container.create_container()
        sem = asyncio.Semaphore(CONCURRENCY)

        async def up(i: int) -> None:
            async with sem:
                await container.upload_blob(f"b/{i:05d}", payload, overwrite=True)

        async def down(i: int) -> None:
            async with sem:
                await (await container.download_blob(f"b/{i:05d}")).readall()

        t0 = time.perf_counter()
        await asyncio.gather(*(up(i) for i in range(args.chunks)))
        t1 = time.perf_counter()
        await asyncio.gather(*(down(i) for i in range(args.chunks)))
        t2 = time.perf_counter()
        await client.delete_container("ceiling")
    total = size * args.chunks
    return {"bytes": total, "upload_s": t1 - t0, "download_s": t2 - t1, "base_rss": base}


def _context() -> Any:
    return {"ti": _TI()}


def _import_sdk() -> None:
    """Import before the timer starts what a running task already has: the SDK, as the ceiling does
    (a task pays that once, about 1 s), and the Task SDK's supervisor module, which the first
    connection lookup imports (a task process is forked from the supervisor, so it has it loaded)."""
    import airflow.sdk.execution_time.supervisor  # noqa: F401
    import azure.storage.blob.aio  # noqa: F401


def _split(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_azure_compute.operators.blob_split import BlobSplitOperator

    _import_sdk()

    op = BlobSplitOperator(
        task_id="split", source_path=args.input, container="bench", prefix="chunks/", chunk_count=args.chunks,
        max_concurrency=CONCURRENCY, overwrite=True,
    )  # fmt: skip
    base = rss_mib()
    t0 = time.perf_counter()
    result = op.execute(_context())
    seconds = time.perf_counter() - t0
    return {
        "bytes": os.path.getsize(args.input),
        "seconds": seconds,
        "chunks": len(result["chunks"]),
        "base_rss": base,
    }


def _naive(args: argparse.Namespace) -> dict[str, Any]:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobServiceClient

    base = rss_mib()
    size = os.path.getsize(args.input)
    target = -(-size // args.chunks)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="naive-", dir=args.workdir) as tmp:
        files: list[Path] = []
        with open(args.input, "rb") as src:
            out = None
            written = 0
            for line in src:
                if out is None:
                    files.append(Path(tmp) / f"part-{len(files):05d}.txt")
                    out = open(files[-1], "wb")  # noqa: SIM115
                    written = 0
                out.write(line)
                written += len(line)
                if written >= target:
                    out.close()
                    out = None
            if out is not None:
                out.close()
        client = BlobServiceClient(args.blob_url, credential=AzureNamedKeyCredential(args.account, args.key))
        container = client.get_container_client("naive")
        container.create_container()
        for path in files:
            with open(path, "rb") as f:
                container.upload_blob(f"chunks/{path.name}", f, overwrite=True)
        seconds = time.perf_counter() - t0
        client.delete_container("naive")
    return {"bytes": size, "seconds": seconds, "chunks": len(files), "base_rss": base}


def _merge(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_azure_compute.operators.blob_merge import BlobMergeOperator

    _import_sdk()

    base = rss_mib()
    out = Path(args.workdir) / "merged.txt"
    t0 = time.perf_counter()
    to_file = BlobMergeOperator(
        task_id="merge", container="bench", manifest="chunks/manifest.json", output_path=str(out),
        max_concurrency=CONCURRENCY, overwrite=True,
    ).execute(_context())  # fmt: skip
    t1 = time.perf_counter()
    out.unlink()
    no_checksum = BlobMergeOperator(
        task_id="merge", container="bench", manifest="chunks/manifest.json", output_path=str(out),
        max_concurrency=CONCURRENCY, overwrite=True, checksum=False,
    ).execute(_context())  # fmt: skip
    t1b = time.perf_counter()
    assert no_checksum["md5"] is None and out.stat().st_size == to_file["size"]
    out.unlink()
    t1c = time.perf_counter()
    to_blob = BlobMergeOperator(
        task_id="merge", container="bench", manifest="chunks/manifest.json", output_blob="merged/out.txt",
        max_concurrency=CONCURRENCY, overwrite=True,
    ).execute(_context())  # fmt: skip
    t2 = time.perf_counter()
    return {
        "bytes": to_file["size"], "file_s": t1 - t0, "file_unhashed_s": t1b - t1, "blob_s": t2 - t1c,
        "md5": to_file["md5"],
        "blob_md5": to_blob["md5"], "shards": to_file["shards"], "base_rss": base,
    }  # fmt: skip


PHASES = {"ceiling": _ceiling, "split": _split, "naive": _naive, "merge": _merge}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_phase(args: argparse.Namespace) -> None:
    fn = PHASES[args.phase]
    cpu0 = cpu_seconds()
    result: dict[str, Any] = asyncio.run(fn(args)) if asyncio.iscoroutinefunction(fn) else fn(args)  # type: ignore[arg-type,assignment]
    result["peak_rss"] = peak_rss_mib()
    result["cpu_s"] = cpu_seconds() - cpu0
    print("RESULT " + json.dumps(result), flush=True)


# -- driver ------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="input size in MiB (default 1024 = 1 GiB)")
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--ceiling-client", choices=("default", "tuned"), help=argparse.SUPPRESS)
    for hidden in ("--input", "--workdir", "--blob-url", "--account", "--key"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase(args)
        return

    from airflow_azure_compute.emulator.airflow_env import connection_env
    from airflow_azure_compute.testing.stack import run_azurite

    with tempfile.TemporaryDirectory(prefix="bench-blob-") as tmp, run_azurite() as azurite:
        work = Path(tmp)
        src = work / "input.txt"
        t0 = time.perf_counter()
        input_md5 = make_input(src, args.size_mib * MiB)
        print(f"generated {args.size_mib} MiB input in {time.perf_counter() - t0:.1f}s", flush=True)
        env = {**os.environ, **connection_env({}, azurite), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        common = [
            "--size-mib", str(args.size_mib), "--chunks", str(args.chunks), "--input", str(src),
            "--workdir", str(work), "--blob-url", azurite.blob_url, "--account", azurite.account_name,
            "--key", azurite.account_key,
        ]  # fmt: skip

        def run(phase: str, *extra: str) -> dict[str, Any]:
            done = subprocess.run(
                [sys.executable, __file__, "--phase", phase, *common, *extra],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if done.returncode != 0 or line is None:
                raise SystemExit(f"phase {phase} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            print(f"{phase} {' '.join(extra)}: {result}", flush=True)
            return result

        rounds = []
        for _ in range(args.rounds):
            rounds.append(
                {
                    "default": run("ceiling", "--ceiling-client", "default"),
                    "tuned": run("ceiling", "--ceiling-client", "tuned"),
                    "split": run("split"),
                    "merge": run("merge"),
                }
            )
        naive = run("naive")
    report(args, rounds, naive, input_md5)


def rate(nbytes: int, seconds: float) -> float:
    return nbytes / MiB / seconds


def report(
    args: argparse.Namespace, rounds: list[dict[str, dict[str, Any]]], naive: dict[str, Any], input_md5: str
) -> None:
    rows: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    for r in rounds:
        m = r["merge"]
        assert m["md5"] == input_md5 == m["blob_md5"], "merged output differs from the input"
        measured = {
            "split": rate(r["split"]["bytes"], r["split"]["seconds"]),
            "merge_file": rate(m["bytes"], m["file_s"]),
            "merge_file_no_checksum": rate(m["bytes"], m["file_unhashed_s"]),
            "merge_blob": rate(m["bytes"], m["blob_s"]),
        }
        for client in ("default", "tuned"):
            c = r[client]
            up, down = rate(c["bytes"], c["upload_s"]), rate(c["bytes"], c["download_s"])
            both = rate(c["bytes"], c["upload_s"] + c["download_s"])
            rows.setdefault(f"ceiling upload ({client} client)", []).append(up)
            rows.setdefault(f"ceiling download ({client} client)", []).append(down)
            ratios.setdefault(f"split vs {client} upload", []).append(measured["split"] / up)
            ratios.setdefault(f"merge to file vs {client} download", []).append(measured["merge_file"] / down)
            ratios.setdefault(f"  same, checksum=False, vs {client} download", []).append(
                measured["merge_file_no_checksum"] / down
            )
            ratios.setdefault(f"merge to blob vs {client} upload+download", []).append(
                measured["merge_blob"] / both
            )
        for name, value in measured.items():
            rows.setdefault(name, []).append(value)
    naive_rate = rate(naive["bytes"], naive["seconds"])

    def spread(values: list[float], fmt: str) -> str:
        return (
            f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
        )

    print(
        f"\nBlob split/merge: {args.size_mib} MiB input, {args.chunks} chunks, {len(rounds)} interleaved rounds\n"
    )
    print(f"| {'MiB/s':44} | median (min-max) over rounds |")
    print(f"|{'-' * 46}|------------------------------:|")
    for name, values in rows.items():
        print(f"| {name:44} | {spread(values, '{:.1f}'):>29} |")
    print(f"| {'naive: chunk files, then upload one by one':44} | {naive_rate:29.1f} |")
    print(f"\n| {'ratio, each round vs its own ceiling':44} | median (min-max) over rounds |")
    print(f"|{'-' * 46}|------------------------------:|")
    for name, values in ratios.items():
        print(f"| {name:44} | {spread([100 * v for v in values], '{:.0f} %'):>29} |")
    split_rates = rows["split"]
    print(f"\nsplit+upload vs naive: {statistics.median(split_rates) / naive_rate:.2f}x (median split round)")
    print(
        "peak RSS MiB (after imports): "
        f"split {max(r['split']['peak_rss'] for r in rounds):.0f} ({rounds[0]['split']['base_rss']:.0f}), "
        f"merge {max(r['merge']['peak_rss'] for r in rounds):.0f} ({rounds[0]['merge']['base_rss']:.0f}), "
        f"ceiling {max(r['tuned']['peak_rss'] for r in rounds):.0f}, naive {naive['peak_rss']:.0f}"
    )
    print(
        "CPU seconds (median): "
        + ", ".join(
            f"{k} {statistics.median(r[k]['cpu_s'] for r in rounds):.1f}" for k in ("tuned", "split", "merge")
        )
        + f", naive {naive['cpu_s']:.1f}"
    )


if __name__ == "__main__":
    main()
