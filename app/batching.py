"""Running the model off the event loop: one worker thread, micro-batching and admission control.

All model calls go through one single-thread executor, so the network never runs twice at once (it is
not re-entrant on every device, and on a small CPU box two concurrent passes only fight for cores).
Predict and reconstruct are stateless per image, so concurrent requests for them are gathered into one
forward pass: a batch starts with the first waiting request and closes when it holds ``max_size``
requests or ``max_wait`` seconds have passed. Edits are batched too, whatever attributes each sets (every
face gets its own ``set`` and draws from its own seed, model/seeds.py), those with the same other options
(``resample``, strengths, ``paste``, and whether they set anything at all) together, so an edit's picture
does not depend on what it was batched with. The other seeded operations (resample, swap,
sample, ...) run one request at a time in the same worker. ``admit()`` bounds the requests in flight; one
over the bound gets 429.

A predict or reconstruct request that is alone (the only one admitted) skips the hand-offs: decoding its
upload, the model call and encoding the answer run as one job on the model thread, since nothing else
waits for it. With others in flight, decoding and encoding run in the thread pool beside the model thread
and the model call is batched. (Edit and the other per-request operations keep the thread pool: run as one
job their lone-request latency did not improve; BENCHMARKS.md 2c.)
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import torch
from fastapi.concurrency import run_in_threadpool

from app.errors import Busy, InvalidInput
from app.imaging import Prepared
from app.metrics import Metrics

R = TypeVar("R")
T = TypeVar("T")


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


@dataclass(frozen=True)
class EditParams:
    """What an edit request asks besides its image and seed. Edits share a batch when they agree on everything
    but which attributes they set (`batch_key`)."""

    set: tuple[tuple[str, bool], ...]  # name -> on/off, in the request's order (the order they are applied)
    resample: tuple[str, ...] = ()
    resolve_conflicts: bool = True
    strength: float | None = None
    style_strength: float | None = None
    paste: bool = False  # blended into the input image rather than its reconstruction (VCN.edit's paste)

    def batch_key(self) -> tuple[EditParams, bool]:
        """What the edits of one batch share: every option but `set` (each face has its own), and whether it
        sets anything (an edit that only resamples is neither blended nor verified)."""
        return dataclasses.replace(self, set=()), bool(self.set)


class Worker:
    """The single model thread, timing every model call into ``vcn_inference_seconds``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcn-model")

    def timed(self, op: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """``fn(*args, **kwargs)``, its time observed as ``op`` (call it on the model thread)."""
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.metrics.inference.labels(op).observe(time.perf_counter() - start)

    def submit(self, job: Callable[[], R]) -> concurrent.futures.Future[R]:
        """Queue ``job()`` on the model thread."""
        return self._executor.submit(job)

    async def run(self, op: str, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn(*args, **kwargs)`` on the model thread, timed as ``op``, and await its result."""
        return await asyncio.wrap_future(self.submit(functools.partial(self.timed, op, fn, *args, **kwargs)))

    def close(self) -> None:
        """Let the running call finish, drop queued ones."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class _Item(NamedTuple):
    x: torch.Tensor  # (1, C, H, W)
    future: asyncio.Future[Any]
    key: Hashable  # only items of one key share a batch
    arg: Any  # this item's own argument (e.g. its seed)


class Batcher(Generic[R]):
    """Gather single-image calls into batches for ``fn``: (B, C, H, W) CPU tensor -> B results.

    Items submitted with a key (an edit's parameters) are batched only with items of the same key, the
    oldest waiting key first, and ``fn`` then gets ``(batch, key, args)``: the key and each item's own
    argument (its seed).

    No collecting task: the request that finds the batcher idle launches a batch (at once with no wait, or
    after ``max_wait_s`` unless ``max_size`` requests arrive first), and the end of a batch, reported from
    the model thread straight onto the loop, launches the next from whatever queued meanwhile. A lone
    request so costs one hand-off to the model thread and one back, nothing more.
    """

    def __init__(
        self,
        op: str,
        fn: Callable[..., Sequence[R]],
        worker: Worker,
        max_size: int,
        max_wait_s: float,
    ) -> None:
        self.op = op
        self.fn = fn
        self.worker = worker
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._pending: collections.deque[_Item] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False  # a batch is on the model thread, or waiting to fill up
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Accept requests on the running loop."""
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """Stop accepting; requests still waiting fail with ``RuntimeError``."""
        self._loop = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            future = self._pending.popleft().future
            if not future.done():
                future.set_exception(RuntimeError("server shutting down"))

    async def submit(self, x: torch.Tensor, key: Hashable = None, arg: Any = None) -> R:
        """Queue one (1, C, H, W) image (with its batch key and own argument, if any) and wait for its result."""
        loop = self._loop
        if loop is None:
            raise RuntimeError(f"{self.op} batcher is not running")
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append(_Item(x, future, key, arg))
        if not self._busy:
            self._schedule()
        elif self._timer is not None and len(self._pending) >= self.max_size:
            self._timer.cancel()  # full before the wait is over: go now
            self._launch()
        return await future

    def _schedule(self) -> None:
        """Start the next batch: now, or after the fill-up wait while it is not full."""
        assert self._loop is not None
        self._busy = True
        if self.max_wait_s > 0 and len(self._pending) < self.max_size:
            self._timer = self._loop.call_later(self.max_wait_s, self._launch)
        else:
            self._launch()

    def _launch(self) -> None:
        self._timer = None
        items: list[_Item] = []
        others: collections.deque[_Item] = collections.deque()  # another key's, left in order for later
        while self._pending:
            item = self._pending.popleft()
            if item.future.done():  # drop requests whose client went away
                continue
            if len(items) < self.max_size and (not items or item.key == items[0].key):
                items.append(item)
            else:
                others.append(item)
        self._pending = others
        if not items or self._loop is None:
            self._busy = False
            return
        self.worker.metrics.batch_size.labels(self.op).observe(len(items))
        loop = self._loop
        try:
            batch = items[0].x if len(items) == 1 else torch.cat([item.x for item in items])
            key = items[0].key
            extra = () if key is None else (key, [item.arg for item in items])
            done = self.worker.submit(functools.partial(self.worker.timed, self.op, self.fn, batch, *extra))
        except Exception as exc:  # e.g. the worker already shut down
            self._settle(items, None, exc)
            return

        def report(_: concurrent.futures.Future[Sequence[R]]) -> None:  # on the model thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(self._finished, items, done)

        done.add_done_callback(report)

    def _finished(self, items: list[_Item],
                  done: concurrent.futures.Future[Sequence[R]]) -> None:
        if done.cancelled():
            self._settle(items, None, RuntimeError("server shutting down"))
            return
        exc = done.exception()
        results = done.result() if exc is None else None
        if results is not None and len(results) != len(items):
            results, exc = None, RuntimeError(f"{self.op}: {len(results)} results for {len(items)} images")
        self._settle(items, results, exc)

    def _settle(self, items: list[_Item], results: Sequence[R] | None,
                exc: BaseException | None) -> None:
        """Hand each waiting request its result (or the failure), then start the next batch, if any."""
        for i, item in enumerate(items):
            future = item.future
            if future.done():
                continue
            if results is None:
                future.set_exception(exc or RuntimeError(f"{self.op} failed"))
            else:
                future.set_result(results[i])
        self._busy = False
        if self._pending and self._loop is not None:
            self._schedule()


class Engine:
    """The loaded model behind an admission bound, a worker thread and three batchers."""

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
        # An edit keeps the upload's own pixels where it barely changes the picture (VCN.edit's paste) unless the
        # request says otherwise, whenever the model blends its edits (digit models do not).
        self.pastes_by_default = bool(model.cfg.edit_blend)
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.worker = Worker(metrics)
        wait_s = batch_max_wait_ms / 1000.0
        self._predict = Batcher("predict", self._predict_batch, self.worker, batch_max_size, wait_s)
        self._reconstruct = Batcher("reconstruct", self._reconstruct_batch, self.worker, batch_max_size, wait_s)
        self._edit = Batcher("edit", self._edit_batch, self.worker, batch_max_size, wait_s)

    # -- lifecycle
    async def start(self) -> None:
        """Start the batchers (needs the running event loop)."""
        self._predict.start()
        self._reconstruct.start()
        self._edit.start()

    async def stop(self) -> None:
        """Stop the batchers and the worker thread."""
        await self._predict.stop()
        await self._reconstruct.stop()
        await self._edit.stop()
        await asyncio.get_running_loop().run_in_executor(None, self.worker.close)

    async def warm_up(self) -> float:
        """Run predict, reconstruct and a verified edit once at every batch size up to the batchers' largest
        (on the model thread), so no request pays a batch size's first call; returns the seconds it took."""

        def run_all() -> float:
            start = time.perf_counter()
            flags = {self.names[0]: True}
            for b in range(1, self._predict.max_size + 1):
                x = torch.full((b, self.cfg.channels, self.cfg.image_size, self.cfg.image_size), 0.5)
                self._predict_batch(x)
                self._reconstruct_batch(x)
                ask = EditParams(tuple(flags.items()))
                self._edit_batch(x, ask.batch_key(), [(seed, ask.set) for seed in range(b)])
            return time.perf_counter() - start

        return await asyncio.wrap_future(self.worker.submit(run_all))

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

    async def edit(self, x: torch.Tensor, params: EditParams, seed: int) -> tuple[torch.Tensor, float | None]:
        """`model.edit` of one (1, C, H, W) image -> ((1, C, H, W) on the CPU, how sure the model's verifier is
        that it shows what was set, None where it was not verified), batched with concurrent edits that agree
        on everything but what they set (each with its own `set` and seed)."""
        out = await self._edit.submit(x, params.batch_key(), (seed, params.set))
        if isinstance(out, InvalidInput):  # this face's ask, refused by the model (its batch-mates went on)
            raise out
        return out

    async def swap(self, x: torch.Tensor, x_b: torch.Tensor, names: list[str], **options: Any
                   ) -> tuple[torch.Tensor, float | None]:
        """`model.swap` of one (1, C, H, W) image -> ((1, C, H, W) on the CPU, how sure the model's verifier is that
        it shows x_b's states, None where it was not verified: a model without one, or a swap of styles only), one
        request at a time."""
        images, sure = await self.call("swap", "swap", x, x_b, names, with_confidence=True, **options)
        return images, _finite(float(sure[0]))

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

    def _edit_batch(self, x: torch.Tensor, key: tuple[EditParams, bool], asks: list[tuple[int, tuple]]
                    ) -> list[tuple[torch.Tensor, float | None] | InvalidInput]:
        """One model call for edits sharing `key` (EditParams.batch_key); asks: each face's (seed, set). Where the
        model refuses the batch (an ask the routes' checks let through), each face goes alone, so only the one it
        refuses fails: its place in the answer holds the InvalidInput."""
        params = key[0]
        try:
            images, sure = self._call_model("edit", x, set=[dict(states) for _, states in asks],
                                            resample=list(params.resample), seed=[seed for seed, _ in asks],
                                            resolve_conflicts=params.resolve_conflicts, strength=params.strength,
                                            style_strength=params.style_strength, with_confidence=True,
                                            paste=params.paste)
        except InvalidInput as refused:
            if len(asks) == 1:
                return [refused]
            return [answer for i, ask in enumerate(asks) for answer in self._edit_batch(x[i : i + 1], key, [ask])]
        return [(image, _finite(float(p))) for image, p in zip(images.split(1), sure.cpu().tolist(), strict=True)]

    # -- per-request operations
    def _call_model(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """On the model thread: ``model.<method>(*args, **kwargs)``; tensors go to the model's device and the
        result (a tensor, or a tuple of them) comes back on the CPU."""
        moved = [self._to_device(a) if isinstance(a, torch.Tensor) else a for a in args]
        extra = {k: self._to_device(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        try:
            out = getattr(self.model, method)(*moved, **extra)
            return tuple(t.cpu() for t in out) if isinstance(out, tuple) else out.cpu()
        except (KeyError, ValueError) as exc:  # the model's word for "these arguments make no sense"
            raise InvalidInput(str(exc.args[0]) if exc.args else type(exc).__name__) from exc

    async def call(self, op: str, method: str, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Run ``model.<method>(*args, **kwargs)`` on the worker, timed as ``op``; (N, C, H, W) on the CPU."""
        return await self.worker.run(op, self._call_model, method, *args, **kwargs)

    def pasting(self, paste: bool | None) -> bool:
        """A request's `paste`, or where it gives none the default (pastes_by_default)."""
        return self.pastes_by_default if paste is None else paste

    async def run(self, op: str, fn: Callable[..., R], *args: Any) -> R:
        """Run any blocking ``fn`` on the worker (e.g. the face renderer), timed as ``op``."""
        return await self.worker.run(op, fn, *args)

    # -- whole requests: decode an upload, run the model, encode the answer
    @property
    def idle(self) -> bool:
        """Whether the caller's request is the only one admitted (it holds a slot itself): then nothing else
        waits for the model thread, and its decode, model call and encoding may all run there in one
        hand-off instead of two or three (BENCHMARKS.md 2c)."""
        return self.in_flight <= 1

    async def predict_upload(self, load: Callable[[], Prepared]) -> tuple[Prepared, list[AttributeRow]]:
        """`predict` on the image that ``load()`` decodes (blocking: it never runs on the event loop)."""

        def alone(x: torch.Tensor) -> list[AttributeRow]:
            self.metrics.batch_size.labels("predict").observe(1)
            return self._predict_batch(x)[0]

        return await self._upload("predict", load, alone, self.predict)

    async def reconstruct_upload(self, load: Callable[[], Prepared], then: Callable[[torch.Tensor], T]
                                 ) -> tuple[Prepared, T]:
        """``then`` (e.g. PNG encoding) of the `reconstruct`ion of the image that ``load()`` decodes."""

        def alone(x: torch.Tensor) -> torch.Tensor:
            self.metrics.batch_size.labels("reconstruct").observe(1)
            return self._reconstruct_batch(x)[0]

        return await self._upload("reconstruct", load, alone, self.reconstruct, then)

    async def _upload(self, op: str, load: Callable[[], Prepared], alone: Callable[..., Any],
                      shared: Callable[[torch.Tensor], Awaitable[Any]], then: Callable[[Any], Any] | None = None
                      ) -> tuple[Prepared, Any]:
        """Idle: one job on the model thread decodes, runs ``alone`` (timed as ``op``) and ``then``. Otherwise
        the decode and ``then`` run in the thread pool, beside the model thread, and the model step is
        ``shared`` (batched or queued with the other requests): what was done before (BENCHMARKS.md 2c)."""
        if self.idle:

            def job() -> tuple[Prepared, Any]:
                prepared = load()
                out = self.worker.timed(op, alone, prepared.tensor)
                return prepared, (out if then is None else then(out))

            return await asyncio.wrap_future(self.worker.submit(job))
        prepared = await run_in_threadpool(load)
        out = await shared(prepared.tensor)
        return prepared, (out if then is None else await run_in_threadpool(then, out))
