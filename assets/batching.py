"""Run a step once per request, whether the run carries one request or a batch of them.

In a batch, one request's failure must fail no other: each request's step runs on its own, and an
exception becomes a `StepFailed` marker for that request (type of error only: exception messages
may carry personal values and Dagster keeps what it is given forever). Downstream steps pass the
marker on without running.

Each request's non-personal facts go onto its own partition's materialisation (one event per
request, which Dagster writes anyway), so the DPO sees every request's state, in a batch too. In a
batch they travel with the results (`RequestResults.facts`) to the IO manager, which records them
with the sealed object's hash in one call per request: each such call makes Dagster read the
run's partitions back from its storage (three queries), so two calls per request cost twice that.
Steps that mostly wait on other systems run a batch's requests on `workers` threads; their `step`
must then keep no state shared between requests (e.g. build a connector per thread).
"""


import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import dagster as dg

T = TypeVar("T")


@dataclass(frozen=True)
class StepFailed:
    step: str
    error: str  # exception class name or a cause known to hold no personal value


class PerThread(Generic[T]):
    """One object per thread, built on first use and all closed together: a connector counts its own
    calls and holds its own clients, so requests served side by side must not share one."""

    def __init__(self, build: Callable[[], T], close: Callable[[T], None]) -> None:
        self._build, self._close = build, close
        self._local = threading.local()
        self._made: list[T] = []
        self._lock = threading.Lock()

    def get(self) -> T:
        made = getattr(self._local, "value", None)
        if made is None:
            made = self._local.value = self._build()
            with self._lock:
                self._made.append(made)
        return made

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
        for value in made:
            self._close(value)


class RequestResults(dict[str, Any]):
    """A batch step's results by request id, and each request's facts for its materialisation."""

    def __init__(self, results: Mapping[str, Any], facts: Mapping[str, Mapping[str, Any]]) -> None:
        super().__init__(results)
        self.facts = dict(facts)


def request_ids(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys)


def per_request(context: dg.AssetExecutionContext, inputs: Mapping[str, Any],
                step: Callable[[str, dict[str, Any]], T],
                describe: Callable[[T], Mapping[str, Any]] | None = None,
                workers: int = 1) -> T | dict[str, T | StepFailed]:
    """Apply `step(request_id, inputs_of_that_request)`; a single request's exception is raised as is.

    `describe` gives a request's non-personal facts: the metadata of its partition's materialisation
    (the step's output metadata for one request; `RequestResults.facts` for a batch, which the
    output must then hand to the IO manager unchanged).
    """
    keys = request_ids(context)
    if len(keys) == 1:
        own = dict(inputs)
        failed = next((v for v in own.values() if isinstance(v, StepFailed)), None)
        if failed is not None:
            raise dg.Failure(f"{context.asset_key.to_user_string()}: upstream step {failed.step} failed "
                             f"({failed.error})")
        value = guarded(context.asset_key.to_user_string(), lambda: step(keys[0], own))
        if describe:
            context.add_output_metadata(dict(describe(value)), output_name="result")
        return value
    stage = context.asset_key.to_user_string()

    def one(key: str) -> T | StepFailed:
        own = {name: value[key] for name, value in inputs.items()}
        failed = next((v for v in own.values() if isinstance(v, StepFailed)), None)
        if failed is not None:
            return failed
        try:
            return step(key, own)
        except Exception as exc:  # isolate one request's failure from the others
            return StepFailed(stage, type(exc).__name__)

    if workers > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(keys)), thread_name_prefix="request") as pool:
            results: dict[str, T | StepFailed] = dict(zip(keys, pool.map(one, keys), strict=True))
    else:
        results = {key: one(key) for key in keys}
    failures = [k for k, v in results.items() if isinstance(v, StepFailed) and v.step == stage]
    for key in failures:
        context.log.warning(f"request {key}: {stage} failed ({results[key].error})")  # type: ignore[union-attr]
    context.log.info(f"{stage}: {len(keys)} requests, {len(failures)} failed")  # the batch's, not on a request
    facts = {key: {"failed": f"{value.step}: {value.error}"} if isinstance(value, StepFailed) else
             dict(describe(value)) for key, value in results.items()} if describe else {}
    return RequestResults(results, facts)


def guarded(stage: str, fn: Callable[[], T]) -> T:
    """Run `fn`; an unexpected exception is re-raised without its message (it may hold personal data)."""
    try:
        return fn()
    except dg.Failure:
        raise
    except Exception as exc:
        raise dg.Failure(f"{stage} failed: {type(exc).__name__} (details withheld: may contain personal data)") \
            from None
