"""Running the model off the event loop: one worker thread, micro-batching and admission control.

All model calls go through one single-thread executor, so the network never runs twice at once (it is
not re-entrant on every device, and on a small CPU box two concurrent passes only fight for cores).
Predict and reconstruct are stateless per image, so concurrent requests for them are gathered into one
forward pass: a batch starts with the first waiting request and closes when it holds ``max_size``
requests or ``max_wait`` seconds have passed. Seeded operations (edit, resample, ...) run one request at
a time in the same worker. ``admit()`` bounds the requests in flight; one over the bound gets 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import torch

from app.errors import Busy, InvalidInput
from app.metrics import Metrics

R = TypeVar("R")


@dataclass(frozen=True)
class AttributeRow:
    """One attribute's prediction for one image (plain floats, ready for JSON; NaN/inf become None)."""

    name: str
    present: bool
    score: float
    kl_present: float | None
    kl_absent: float | None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _unit(value: float) -> float:
    """Clamp to [0, 1]; a non-finite score reads as 0."""
    return min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0


class Worker:
    """The single model thread, timing every call into ``vcn_inference_seconds``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcn-model")

    async def run(self, op: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn(*args, **kwargs)`` on the model thread and await its result."""

        def timed() -> R:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.metrics.inference.labels(op).observe(time.perf_counter() - start)

        return await asyncio.get_running_loop().run_in_executor(self._executor, timed)

    def close(self) -> None:
        """Let the running call finish, drop queued ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class Batcher(Generic[R]):
    """Gather single-image calls into batches for ``fn``: (B, C, H, W) CPU tensor -> B results."""

    def __init__(
        self,
        op: str,
        fn: Callable[[torch.Tensor], Sequence[R]],
        worker: Worker,
        max_size: int,
        max_wait_s: float,
    ) -> None:
        self.op = op
        self.fn = fn
        self.worker = worker
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[tuple[torch.Tensor, asyncio.Future[R]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the collecting task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.op}")

    async def stop(self) -> None:
        """Stop collecting; requests still waiting fail with ``RuntimeError``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("server shutting down"))

    async def submit(self, x: torch.Tensor) -> R:
        """Queue one (1, C, H, W) image and wait for its result."""
        if self._task is None:
            raise RuntimeError(f"{self.op} batcher is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((x, future))
        return await future

    async def _collect(self) -> list[tuple[torch.Tensor, asyncio.Future[R]]]:
        items = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait_s
        while len(items) < self.max_size:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                while len(items) < self.max_size and not self._queue.empty():
                    items.append(self._queue.get_nowait())
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return [(x, f) for x, f in items if not f.done()]  # drop requests whose client went away

    async def _loop(self) -> None:
        while True:
            items = await self._collect()
            if not items:
                continue
            batch = torch.cat([x for x, _ in items])
            self.worker.metrics.batch_size.labels(self.op).observe(len(items))
            try:
                results = await self.worker.run(self.op, self.fn, batch)
            except Exception as exc:  # hand the failure to every waiting request
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(items, results, strict=True):
                if not future.done():
                    future.set_result(result)


class Engine:
    """The loaded model behind an admission bound, a worker thread and two batchers."""

    def __init__(
        self,
        model: Any,
        *,
        metrics: Metrics,
        max_in_flight: int,
        batch_max_size: int,
        batch_max_wait_ms: float,
    ) -> None:
        self.model = model
        self.cfg = model.cfg
        self.names: tuple[str, ...] = tuple(model.cfg.capsule_names)
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.worker = Worker(metrics)
        wait_s = batch_max_wait_ms / 1000.0
        self._predict = Batcher("predict", self._predict_batch, self.worker, batch_max_size, wait_s)
        self._reconstruct = Batcher("reconstruct", self._reconstruct_batch, self.worker, batch_max_size, wait_s)

    # -- lifecycle
    async def start(self) -> None:
        """Start the batchers (needs the running event loop)."""
        self._predict.start()
        self._reconstruct.start()

    async def stop(self) -> None:
        """Stop the batchers and the worker thread."""
        await self._predict.stop()
        await self._reconstruct.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.worker.close)

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold one of ``max_in_flight`` slots for the duration of a request, or raise `Busy` (429)."""
        if self.in_flight >= self.max_in_flight:
            self.metrics.rejected.inc()
            raise Busy()
        self.in_flight += 1
        self.metrics.in_flight.set(self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.set(self.in_flight)

    # -- batched operations
    async def predict(self, x: torch.Tensor) -> list[AttributeRow]:
        """Attribute predictions for one (1, C, H, W) image, batched with concurrent requests."""
        return await self._predict.submit(x)

    async def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction (C, H, W) of one (1, C, H, W) image, batched with concurrent requests."""
        return await self._reconstruct.submit(x)

    def _to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.model.device, non_blocking=True)

    def _predict_batch(self, x: torch.Tensor) -> list[list[AttributeRow]]:
        pred = self.model.predict(self._to_device(x))
        present = pred.present.cpu().tolist()
        score = pred.score.float().cpu().tolist()
        kl_p = pred.kl_present.float().cpu().tolist()
        kl_a = pred.kl_absent.float().cpu().tolist()
        return [
            [
                AttributeRow(name, bool(p), _unit(float(s)), _finite(float(kp)), _finite(float(ka)))
                for name, p, s, kp, ka in zip(self.names, present[i], score[i], kl_p[i], kl_a[i], strict=True)
            ]
            for i in range(x.shape[0])
        ]

    def _reconstruct_batch(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model.reconstruct(self._to_device(x)).cpu())

    # -- per-request operations
    async def call(self, op: str, method: str, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Run ``model.<method>(*args, **kwargs)`` on the worker; tensors go to the model's device and the
        (N, C, H, W) result comes back on the CPU."""

        def run() -> torch.Tensor:
            moved = [self._to_device(a) if isinstance(a, torch.Tensor) else a for a in args]
            extra = {k: self._to_device(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
            return getattr(self.model, method)(*moved, **extra).cpu()

        try:
            return await self.worker.run(op, run)
        except (KeyError, ValueError) as exc:  # the model's word for "these arguments make no sense"
            raise InvalidInput(str(exc.args[0]) if exc.args else type(exc).__name__) from exc

    async def run(self, op: str, fn: Callable[..., R], *args: Any) -> R:
        """Run any blocking ``fn`` on the worker (e.g. the face renderer), timed as ``op``."""
        return await self.worker.run(op, fn, *args)
