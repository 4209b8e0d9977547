"""The service end to end on loopback: `vcn serve` with the shipped weights, driven by concurrent clients.

    vcn bench http [--concurrency 1 4 16 32] [--requests 200] [--max-seconds 30] [--json OUT]

1. /api/predict and /api/edit at each concurrency: p50 / p99 latency and requests/s (each level stops after
   `requests` answers or `max-seconds`, whichever comes first).
2. At concurrency 1, the same image through the model in this process (no HTTP, no decode, no PNG), timed in
   rounds alternating with the HTTP requests: overhead = (HTTP p50 - model p50) / model p50; beside it the
   server's own model time (its vcn_inference_seconds) and the parts: HTTP floor, decode, PNG encode.
   Beside the httpx client, a lean one (http.client, one kept-alive connection, the body built once): the
   httpx client's own time, ~1-2 ms a request on this box, is part of the first figure, not the server's.
   For /api/predict the lean client also sends the image as the raw body (Content-Type image/png, no
   multipart), where the server takes it.
3. Micro-batching on (VCN_BATCH_MAX_SIZE=16, the default; with no wait, the default, and with 5 ms) against
   off (=1): three servers up at once, driven in turn at 1 and 16 clients on /api/predict and /api/edit
   (`--batching-ops`; "edit" sends every request the same ask, "edit-mixed" cycles through four asks,
   "edit-varied" through sixteen; until session 12 only edits asking the same were batched, now edits that
   differ only in what they set are); the mean batch size comes from the server's /metrics.
   `--batching-only` runs this part alone.

The client runs on the same two cores as the server, so high-concurrency figures include its own cost.

    vcn bench http --compare CHECKOUT [CHECKOUT+NAME=VALUE,...] ... [--rounds 6]

Only part 2, for `vcn serve` started from each checkout (e.g. a `git worktree` of an older commit), all
servers up at once and driven in turn, round after round, against one in-process model: before/after
figures of one run. `+NAME=VALUE,...` adds environment for that server (e.g. PYTHONPATH).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import statistics
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import torch

from app.launch import serve_in_subprocess
from bench.common import interleaved, machine, markdown_table, percentile, time_calls

REPO = Path(__file__).resolve().parent.parent
WEIGHTS = REPO / "weights" / "faces.safetensors"
EDIT_FORM = {"set": json.dumps({"Eyeglasses": True}), "seed": "0"}
EDIT_ASKS = {  # the forms an edit client sends, in turn, per bench op
    "edit": [EDIT_FORM],
    "edit-mixed": [{"set": json.dumps({name: True}), "seed": str(i)}
                   for i, name in enumerate(("Eyeglasses", "Smiling", "Bangs", "Wearing_Hat"))],
    # sixteen different asks, as sixteen people at the page would send: no two clients ask the same at once
    "edit-varied": [{"set": json.dumps({name: True}), "seed": str(i)}
                    for i, name in enumerate(("Eyeglasses", "Smiling", "Bangs", "Wearing_Hat", "Blond_Hair",
                                              "Black_Hair", "Mustache", "Goatee", "Bald", "Pale_Skin",
                                              "Wearing_Lipstick", "Heavy_Makeup", "Male", "Young", "Chubby",
                                              "Big_Nose"))],
}
SERVER_ENV: dict[str, str] = {}  # for every server of a run (OMP_NUM_THREADS with --threads)
SERVER_DEVICE = {"device": "cpu"}  # where every server of a run puts its model (--device)
BATCH_CONFIGS = {  # server environment per micro-batching configuration (app/config.py)
    "on: max 16, wait 5 ms": {"VCN_BATCH_MAX_WAIT_MS": "5"},
    "on: max 16, wait 0 (default)": {},
    "off: max 1": {"VCN_BATCH_MAX_SIZE": "1"},
}


def endpoint(op: str) -> str:
    """The route a bench op posts to (every EDIT_ASKS op is an /api/edit)."""
    return "edit" if op in EDIT_ASKS else op


@contextmanager
def server(weights: str | Path, env: dict[str, str] | None = None, ready_s: float = 180.0, repo: str | Path = REPO):
    """`vcn serve` on a free loopback port with extra environment (and SERVER_ENV), run from the checkout
    `repo`; yields its base URL."""
    with serve_in_subprocess(weights, {**SERVER_ENV, **(env or {})}, ready_s, device=SERVER_DEVICE["device"],
                             repo=repo) as url:
        yield url


def face_png(size: int = 64, seed: int = 0) -> bytes:
    """A rendered face as PNG bytes, upscaled to size x size when larger than 64."""
    from PIL import Image

    from model.data import faces

    img = Image.fromarray(faces.render(faces.sample_faces(seed, 0, 1), size=64)[0])
    if size != 64:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def counters(url: str) -> dict[str, float]:
    """The server's model-time and batch-size sums and counts (from /metrics), by series name."""
    out = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(("vcn_inference_seconds_sum", "vcn_inference_seconds_count", "vcn_batch_size_sum",
                            "vcn_batch_size_count")):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def server_mean(before: dict[str, float], after: dict[str, float], series: str, op: str) -> float:
    """Mean of a histogram (e.g. vcn_inference_seconds) for one op between two `counters` readings."""
    total, count = (f'{series}_{part}{{op="{op}"}}' for part in ("sum", "count"))
    n = after.get(count, 0.0) - before.get(count, 0.0)
    return (after.get(total, 0.0) - before.get(total, 0.0)) / n if n else float("nan")


async def drive(url: str, op: str, png: bytes, concurrency: int, requests: int, max_s: float) -> dict:
    """`concurrency` clients posting to /api/<op> (an edit op: its EDIT_ASKS in turn) until `requests` answers
    or `max_s` seconds."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = 0
    asks = EDIT_ASKS.get(op, [None])
    path = f"/api/{endpoint(op)}"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        t0 = time.perf_counter()

        async def one_client() -> None:
            nonlocal started
            while started < requests and time.perf_counter() - t0 < max_s:
                data = asks[started % len(asks)]
                started += 1
                start = time.perf_counter()
                try:
                    r = await client.post(path, files={"image": ("face.png", png, "image/png")}, data=data)
                    key = None if r.status_code == 200 else str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                if key is None:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors[key] = errors.get(key, 0) + 1

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"op": op, "concurrency": concurrency, "ok": len(latencies), "errors": errors, "wall_s": wall,
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
            "req_per_s": len(latencies) / wall}


def multipart(png: bytes, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and the PNG as ``image``, and its Content-Type."""
    boundary = "vcn-bench-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="face.png"\r\n'
                 f"Content-Type: image/png\r\n\r\n".encode() + png + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def lean_drive(url: str, op: str, png: bytes, requests: int, raw: bool = False) -> list[float]:
    """One client, one kept-alive http.client connection, the body built once: seconds per answer. raw: the
    PNG is the whole body (image/png) instead of a multipart field (only calls without options take it)."""
    body, content_type = (png, "image/png") if raw else multipart(png, EDIT_FORM if op == "edit" else {})
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    times = []
    try:
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("POST", f"/api/{op}", body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/api/{op} answered {response.status}")
            times.append(time.perf_counter() - start)
    finally:
        conn.close()
    return times


def model_call(weights: str | Path, op: str, png: bytes):
    """The model call the server makes for this image, in this process: () -> result."""
    from app.config import Settings
    from app.deps import image_policy, load_model
    from app.imaging import prepare

    settings = Settings(weights=weights, device=SERVER_DEVICE["device"])
    model = load_model(settings)  # exactly what the server loads (optimised unless VCN_OPTIMIZE=false)
    x = prepare(png, image_policy(settings, model)).tensor.to(next(model.parameters()).device)
    if op == "predict":
        return lambda: model.predict(x)
    return lambda: model.edit(x, json.loads(EDIT_FORM["set"]), seed=0)


def overhead(url: str, weights: str | Path, op: str, png: bytes, rounds: int = 5, per_round: int = 20) -> dict:
    """Concurrency 1: HTTP p50 (httpx and lean client) against the in-process model p50 of the same image,
    in alternating rounds."""
    return compare_overhead({"server": url}, weights, op, png, rounds, per_round)[0]


def compare_overhead(urls: dict[str, str], weights: str | Path, op: str, png: bytes, rounds: int = 5,
                     per_round: int = 20) -> list[dict]:
    """`overhead` for several servers at once: each round times the in-process model, then each server in
    turn (httpx p50, lean-client p50, for predict lean client with a raw body, the server's own model time);
    medians over the rounds. A server that refuses raw bodies (an older checkout) gets no raw figure."""
    call = model_call(weights, op, png)
    call()
    raw_ok = {}
    for name, url in urls.items():
        asyncio.run(drive(url, op, png, 1, 5, 60))
        lean_drive(url, op, png, 5)
        raw_ok[name] = op == "predict" and _takes_raw(url, op, png)
    model_times: list[float] = []
    seen: dict[str, dict[str, list[float]]] = {name: {"http": [], "lean": [], "raw": [], "server": []} for name in urls}
    for _ in range(rounds):
        model_times += time_calls(call, per_round)
        for name, url in urls.items():
            before = counters(url)
            seen[name]["http"].append(asyncio.run(drive(url, op, png, 1, per_round, 60))["p50_ms"])
            seen[name]["server"].append(server_mean(before, counters(url), "vcn_inference_seconds", op) * 1e3)
            seen[name]["lean"].append(percentile(lean_drive(url, op, png, per_round), 50) * 1e3)
            if raw_ok[name]:
                seen[name]["raw"].append(percentile(lean_drive(url, op, png, per_round, raw=True), 50) * 1e3)
    model = percentile(model_times, 50) * 1e3
    rows = []
    for name, s in seen.items():
        http, lean = statistics.median(s["http"]), statistics.median(s["lean"])
        raw = statistics.median(s["raw"]) if s["raw"] else None
        rows.append({"op": op, "server": name, "http_p50_ms": http, "model_p50_ms": model,
                     "overhead_share": (http - model) / model, "lean_http_p50_ms": lean,
                     "lean_overhead_share": (lean - model) / model, "server_model_ms": statistics.median(s["server"]),
                     "raw_http_p50_ms": raw, "raw_overhead_share": None if raw is None else (raw - model) / model,
                     "http_p50_rounds": s["http"], "lean_p50_rounds": s["lean"], "raw_p50_rounds": s["raw"]})
    return rows


def _takes_raw(url: str, op: str, png: bytes) -> bool:
    """Whether the server answers /api/<op> with the image as the raw body (warming that path up too)."""
    try:
        lean_drive(url, op, png, 5, raw=True)
    except RuntimeError:
        return False
    return True


def breakdown(url: str, weights: str | Path, png: bytes, n: int = 50) -> dict:
    """Parts of a lone request besides the model, p50 ms each: the HTTP floor (GET /livez, same server and
    middleware), decoding the upload (app.imaging.prepare, in this process) and encoding a PNG answer."""
    from app.config import Settings
    from app.deps import image_policy
    from app.imaging import prepare, to_png
    from model.checkpoint import load_vcn

    policy = image_policy(Settings(), load_vcn(weights))
    image = prepare(png, policy).tensor
    with httpx.Client(base_url=url, timeout=30) as client:
        parts = {"http_floor": lambda: client.get("/livez"), "decode": lambda: prepare(png, policy),
                 "encode_png": lambda: to_png(image)}
        times = interleaved(parts, rounds=n // 5, per_round=5)
    return {name: percentile(t, 50) * 1e3 for name, t in times.items()}


def batching(weights: str | Path, png: bytes, levels: tuple[int, ...], requests: int, max_s: float,
             rounds: int, ops: tuple[str, ...] = ("predict", "edit")) -> list[dict]:
    """Each op on one server per BATCH_CONFIGS entry (all up at once), driven in turn at each level."""
    rows: dict[tuple[str, str, int], list[dict]] = {}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(server(weights, env)) for name, env in BATCH_CONFIGS.items()}
        for url in urls.values():
            for op in ops:
                asyncio.run(drive(url, op, png, max(levels), 2 * max(levels), max_s))  # warm-up
        for _ in range(rounds):
            for op in ops:
                for c in levels:
                    for name, url in urls.items():
                        before = counters(url)
                        r = asyncio.run(drive(url, op, png, c, requests, max_s))
                        r["mean_batch"] = server_mean(before, counters(url), "vcn_batch_size", endpoint(op))
                        rows.setdefault((op, name, c), []).append(r)
    keys = ("req_per_s", "p50_ms", "p99_ms", "mean_batch")
    return [{"op": op, "config": name, "concurrency": c, **{k: statistics.median(r[k] for r in rs) for k in keys},
             "rounds_req_per_s": [r["req_per_s"] for r in rs]} for (op, name, c), rs in rows.items()]


def batching_table(batch: list[dict]) -> str:
    return markdown_table(["micro-batching", "config", "clients", "req/s", "p50 ms", "p99 ms", "mean batch"],
                          [[b["op"], b["config"], b["concurrency"], b["req_per_s"], b["p50_ms"], b["p99_ms"],
                            b["mean_batch"]] for b in batch])


def run(weights: str | Path = WEIGHTS, concurrency: tuple[int, ...] = (1, 4, 16, 32), requests: int = 200,
        max_s: float = 30.0, upload: int = 64, rounds: int = 3, threads: int | None = None,
        json_out: str | None = None, device: str = "cpu", batching_ops: tuple[str, ...] = ("predict", "edit"),
        batching_only: bool = False) -> dict:
    """All three parts (or only the third); prints markdown tables and returns the figures. threads: torch
    threads of the servers (OMP_NUM_THREADS) and of the in-process model (None: torch's default, one per core)."""
    if threads:
        SERVER_ENV["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
    SERVER_DEVICE["device"] = device
    info = machine()
    if device != "cpu":
        info["gpu"] = torch.cuda.get_device_name()
    print(f"# http bench: {weights}, {upload}x{upload} PNG uploads\n{json.dumps(info, indent=1)}", flush=True)
    png = face_png(upload)
    result: dict = {"machine": info, "upload": upload, "threads": threads}
    if not batching_only:
        result.update(levels_and_overhead(weights, png, concurrency, requests, max_s))
    result["batching"] = batch = batching(weights, png, (1, 16), requests, max_s, rounds, batching_ops)
    print(batching_table(batch))
    result["loadavg_after"] = machine()["loadavg"]
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=1))
    return result


def levels_and_overhead(weights: str | Path, png: bytes, concurrency: tuple[int, ...], requests: int,
                        max_s: float) -> dict:
    """Parts 1 and 2: each endpoint at each concurrency, and the overhead at one client."""
    rows, over = [], []
    with server(weights) as url:
        for op in ("predict", "edit"):
            asyncio.run(drive(url, op, png, 4, 8, max_s))  # warm-up
            for c in concurrency:
                rows.append(asyncio.run(drive(url, op, png, c, requests, max_s)))
            over.append(overhead(url, weights, op, png))
        parts = breakdown(url, weights, png)
    print(markdown_table(["endpoint", "clients", "answers", "errors", "p50 ms", "p99 ms", "req/s"],
                         [[f"/api/{r['op']}", r["concurrency"], r["ok"], r["errors"] or "-", r["p50_ms"], r["p99_ms"],
                           r["req_per_s"]] for r in rows]))
    print(overhead_table(over))
    print(markdown_table(["part of a lone request", "p50 ms"], [[k, v] for k, v in parts.items()]))
    return {"levels": rows, "overhead": over, "parts": parts}


def overhead_table(over: list[dict]) -> str:
    return markdown_table(
        ["endpoint", "server", "HTTP p50 ms (httpx)", "overhead", "HTTP p50 ms (lean client)", "overhead",
         "lean client, raw body", "overhead", "model p50 ms (in process)", "server's own model ms (mean)"],
        [[f"/api/{o['op']}", o["server"], o["http_p50_ms"], f"{100 * o['overhead_share']:+.0f} %",
          o["lean_http_p50_ms"], f"{100 * o['lean_overhead_share']:+.0f} %", _or_dash(o.get("raw_http_p50_ms")),
          _share(o.get("raw_overhead_share")), o["model_p50_ms"], o["server_model_ms"]]
         for o in over])


def _or_dash(value: float | None) -> object:
    return "-" if value is None else value


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.0f} %"


def compare(checkouts: list[str], weights: str | Path = WEIGHTS, rounds: int = 6, per_round: int = 40,
            threads: int | None = None, json_out: str | None = None) -> list[dict]:
    """Part 2 for `vcn serve` from each checkout ("DIR" or "DIR+NAME=VALUE,..."), side by side."""
    if threads:
        SERVER_ENV["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)
    info = machine()
    print(f"# http bench, side by side: {checkouts}\n{json.dumps(info, indent=1)}", flush=True)
    png = face_png(64)
    rows = []
    with ExitStack() as stack:
        urls = {}
        for spec in checkouts:
            repo, _, extra = spec.partition("+")
            env = dict(pair.split("=", 1) for pair in extra.split(",") if pair)
            urls[spec] = stack.enter_context(server(weights, env, repo=Path(repo).resolve()))
        for op in ("predict", "edit"):
            rows += compare_overhead(urls, weights, op, png, rounds, per_round)
    print(overhead_table(rows))
    if json_out:
        Path(json_out).write_text(json.dumps({"machine": info, "loadavg_after": machine()["loadavg"],
                                              "threads": threads, "overhead": rows}, indent=1))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="vcn bench http", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=str(WEIGHTS))
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 32])
    p.add_argument("--requests", type=int, default=200, help="answers per level (bounded by --max-seconds)")
    p.add_argument("--max-seconds", type=float, default=30.0)
    p.add_argument("--upload", type=int, default=64, help="side of the uploaded PNG (the model works at 64)")
    p.add_argument("--rounds", type=int, default=3, help="turns of the micro-batching comparison")
    p.add_argument("--threads", type=int, default=None, help="torch threads of the servers (default: one per core)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the servers run the model")
    p.add_argument("--json", default=None)
    p.add_argument("--compare", nargs="+", default=None, metavar="CHECKOUT",
                   help="only the overhead at 1 client, for a server from each checkout, side by side")
    p.add_argument("--per-round", type=int, default=40, help="with --compare: requests per server per round")
    p.add_argument("--batching-ops", nargs="+", default=["predict", "edit"], choices=["predict", *EDIT_ASKS],
                   help="what part 3 drives")
    p.add_argument("--batching-only", action="store_true", help="only part 3, micro-batching on against off")
    a = p.parse_args(argv)
    if a.compare:
        compare(a.compare, a.weights, a.rounds, a.per_round, a.threads, a.json)
        return
    run(a.weights, tuple(a.concurrency), a.requests, a.max_seconds, a.upload, a.rounds, a.threads, a.json,
        a.device, tuple(a.batching_ops), a.batching_only)


if __name__ == "__main__":
    main()
