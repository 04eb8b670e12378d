"""Run a step once per request, whether the run carries one request or a batch of them.

In a batch, one request's failure must fail no other: each request's step runs on its own, and an
exception becomes a `StepFailed` marker for that request (type of error only: exception messages
may carry personal values and Dagster keeps what it is given forever). Downstream steps pass the
marker on without running.
"""


from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import dagster as dg

T = TypeVar("T")


@dataclass(frozen=True)
class StepFailed:
    step: str
    error: str  # exception class name or a cause known to hold no personal value


def request_ids(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys)


def per_request(context: dg.AssetExecutionContext, inputs: Mapping[str, Any],
                step: Callable[[str, dict[str, Any]], T],
                describe: Callable[[T], Mapping[str, Any]] | None = None) -> T | dict[str, T | StepFailed]:
    """Apply `step(request_id, inputs_of_that_request)`; a single request's exception is raised as is.

    `describe` gives a request's non-personal facts: they become the output's metadata of a single
    request, and in every case an observation on the request's own partition, so that the DPO sees
    each request's state even when it ran in a batch.
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
            facts = dict(describe(value))
            context.add_output_metadata(facts, output_name="result")
            _observe(context, keys[0], facts)
        return value
    results: dict[str, T | StepFailed] = {}
    for key in keys:
        own = {name: value[key] for name, value in inputs.items()}
        failed = next((v for v in own.values() if isinstance(v, StepFailed)), None)
        if failed is not None:
            results[key] = failed
            continue
        try:
            results[key] = step(key, own)
        except Exception as exc:  # isolate one request's failure from the others
            results[key] = StepFailed(context.asset_key.to_user_string(), type(exc).__name__)
            context.log.warning(f"request {key}: {context.asset_key.to_user_string()} failed ({type(exc).__name__})")
    failures = sorted(k for k, v in results.items() if isinstance(v, StepFailed))
    context.add_output_metadata({"requests": len(keys), "failed_requests": failures}, output_name="result")
    if describe:
        for key, value in results.items():
            facts = {"failed": f"{value.step}: {value.error}"} if isinstance(value, StepFailed) else describe(value)
            _observe(context, key, dict(facts))
    return results


def _observe(context: dg.AssetExecutionContext, request_id: str, facts: dict[str, Any]) -> None:
    context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=request_id, metadata=facts))


def guarded(stage: str, fn: Callable[[], T]) -> T:
    """Run `fn`; an unexpected exception is re-raised without its message (it may hold personal data)."""
    try:
        return fn()
    except dg.Failure:
        raise
    except Exception as exc:
        raise dg.Failure(f"{stage} failed: {type(exc).__name__} (details withheld: may contain personal data)") \
            from None
