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
                step: Callable[[str, dict[str, Any]], T]) -> T | dict[str, T | StepFailed]:
    """Apply `step(request_id, inputs_of_that_request)`; a single request's exception is raised as is."""
    keys = request_ids(context)
    if len(keys) == 1:
        own = dict(inputs)
        failed = next((v for v in own.values() if isinstance(v, StepFailed)), None)
        if failed is not None:
            raise dg.Failure(f"{context.asset_key.to_user_string()}: upstream step {failed.step} failed "
                             f"({failed.error})")
        return guarded(context.asset_key.to_user_string(), lambda: step(keys[0], own))
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
    return results


def guarded(stage: str, fn: Callable[[], T]) -> T:
    """Run `fn`; an unexpected exception is re-raised without its message (it may hold personal data)."""
    try:
        return fn()
    except dg.Failure:
        raise
    except Exception as exc:
        raise dg.Failure(f"{stage} failed: {type(exc).__name__} (details withheld: may contain personal data)") \
            from None
